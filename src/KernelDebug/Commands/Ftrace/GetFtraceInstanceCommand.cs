using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Lists tracefs instances (and the top-level buffer with -IncludeTopLevel or -Name /).</summary>
[Cmdlet(VerbsCommon.Get, "FtraceInstance")]
[OutputType(typeof(FtraceInstance))]
public sealed class GetFtraceInstanceCommand : FtraceCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    [SupportsWildcards]
    public string[]? Name { get; set; }

    [Parameter]
    public SwitchParameter IncludeTopLevel { get; set; }

    protected override void ProcessRecord()
    {
        var all = Try(() => FtraceInstance.List(IncludeTopLevel || (Name?.Contains(FtraceInstance.TopLevelName) ?? false)).ToList());
        if (Name is null) { WriteObject(all, true); return; }
        foreach (var n in Name)
        {
            var p = WildcardPattern.Get(n, WildcardOptions.IgnoreCase);
            var found = all.Where(i => n == i.Name || p.IsMatch(i.Name)).ToList();
            if (found.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(n))
                WriteError(new ErrorRecord(new ItemNotFoundException($"There is no tracefs instance named '{n}'."), "FtraceInstanceNotFound", ErrorCategory.ObjectNotFound, n));
            WriteObject(found, true);
        }
    }
}
