using System.Management.Automation;
using KernelDebug.Ftrace;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Lists the triggers of an instance's events (all events, or those -Event names), as objects.</summary>
[Cmdlet(VerbsCommon.Get, "TraceEventTrigger")]
[OutputType(typeof(TraceEventTrigger))]
public sealed class GetTraceEventTriggerCommand : FtraceCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance Instance { get; set; } = null!;

    [Parameter(Position = 1)]
    [ArgumentCompleter(typeof(TraceEventNameCompleter))]
    [SupportsWildcards]
    public string[]? Event { get; set; }

    [Parameter]
    public TraceTriggerType[]? Type { get; set; }

    protected override void ProcessRecord()
    {
        var events = Event is null ? Try(() => TraceEventCatalog.List()) : MatchEvents(Event);
        foreach (var t in Try(() => EventTriggers.List(Instance, events), Instance))
            if (Type is null || Type.Contains(t.Type)) WriteObject(t);
    }
}
