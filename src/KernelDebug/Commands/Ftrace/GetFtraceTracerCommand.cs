using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>The tracers the kernel offers in an instance, and which one is current.</summary>
[Cmdlet(VerbsCommon.Get, "FtraceTracer")]
[OutputType(typeof(FtraceTracer))]
public sealed class GetFtraceTracerCommand : FtraceCmdlet
{
    [Parameter(Position = 0)]
    [ArgumentCompleter(typeof(TracerNameCompleter))]
    [SupportsWildcards]
    public string[]? Name { get; set; }

    /// <summary>Default: the top-level buffer.</summary>
    [Parameter(ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance? Instance { get; set; }

    /// <summary>Only the current tracer.</summary>
    [Parameter]
    public SwitchParameter Current { get; set; }

    protected override void ProcessRecord()
    {
        var instance = Instance ?? Try(() => FtraceInstance.TopLevel);
        var current = instance.CurrentTracerLive();
        var patterns = Name?.Select(n => WildcardPattern.Get(n, WildcardOptions.IgnoreCase)).ToList();
        foreach (var t in instance.AvailableTracers)
        {
            if (Current && t != current) continue;
            if (patterns is not null && !patterns.Any(p => p.IsMatch(t))) continue;
            WriteObject(new FtraceTracer { Name = t, IsCurrent = t == current, Instance = instance.Name });
        }
    }
}
