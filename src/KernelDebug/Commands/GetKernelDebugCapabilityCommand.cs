using System.Management.Automation;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Commands;

/// <summary>Which kernel debugging interfaces and tools work on this host, and why not.</summary>
[Cmdlet(VerbsCommon.Get, "KernelDebugCapability")]
[OutputType(typeof(Capability))]
public sealed class GetKernelDebugCapabilityCommand : PSCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(CapabilityNameCompleter))]
    public string[]? Name { get; set; }

    private readonly List<string> _names = new();

    protected override void ProcessRecord()
    {
        if (Name is not null) _names.AddRange(Name);
    }

    protected override void EndProcessing()
    {
        var requested = _names.Count == 0 ? null : _names;
        var found = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var c in CapabilityProbe.Run(requested, WriteVerbose))
        {
            found.Add(c.Name);
            WriteObject(c);
        }
        if (requested is null) return;
        foreach (var n in requested.Where(n => !WildcardPattern.ContainsWildcardCharacters(n) && !found.Contains(n)))
        {
            this.WriteKernelError(new KernelDebugException($"There is no capability named '{n}'. Known: {string.Join(", ", CapabilityProbe.Names)}.",
                "CapabilityNotFound", ErrorCategory.ObjectNotFound), n);
        }
    }
}
