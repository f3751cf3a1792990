using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Trace events with their format fields and their state (enabled, filter) in an instance.</summary>
[Cmdlet(VerbsCommon.Get, "TraceEvent")]
[OutputType(typeof(TraceEventInfo))]
public sealed class GetTraceEventCommand : FtraceCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(TraceEventNameCompleter))]
    [SupportsWildcards]
    [Alias("FullName")]
    public string[]? Name { get; set; }

    /// <summary>Default: the top-level buffer.</summary>
    [Parameter(ValueFromPipeline = true)]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance? Instance { get; set; }

    /// <summary>Only the events enabled in the instance.</summary>
    [Parameter]
    public SwitchParameter Enabled { get; set; }

    protected override void ProcessRecord()
    {
        var instance = Instance ?? Try(() => FtraceInstance.TopLevel);
        var events = Name is null ? Try(() => KernelDebug.Ftrace.TraceEventCatalog.List()) : MatchEvents(Name);
        foreach (var (system, name) in events)
        {
            try
            {
                var info = instance.GetEvent(system, name);
                if (!Enabled || info.Enabled) WriteObject(info);
            }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, $"{system}:{name}"); }
        }
    }
}
