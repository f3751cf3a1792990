using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>
/// Enables trace events in an instance, optionally with a filter. All or nothing: if the kernel refuses the filter
/// for one event, no event is enabled and the error carries the kernel's message and position.
/// </summary>
[Cmdlet(VerbsLifecycle.Enable, "TraceEvent", SupportsShouldProcess = true, DefaultParameterSetName = "Name")]
[OutputType(typeof(TraceEventInfo))]
public sealed class EnableTraceEventCommand : FtraceCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Name")]
    [ArgumentCompleter(typeof(TraceEventNameCompleter))]
    [SupportsWildcards]
    public string[] Name { get; set; } = Array.Empty<string>();

    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "InputObject")]
    public TraceEventInfo[] InputObject { get; set; } = Array.Empty<TraceEventInfo>();

    [Parameter(Position = 1)]
    public string? Filter { get; set; }

    [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "Name")]
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "InputObject")]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance Instance { get; set; } = null!;

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var events = ParameterSetName == "Name" ? MatchEvents(Name) : InputObject.Select(e => (e.System, e.Name)).ToList();
        if (events.Count == 0) return;
        var what = events.Count == 1 ? $"{events[0].System}:{events[0].Name}" : $"{events.Count} events";
        if (!ShouldProcess(Instance.Name, $"Enable {what}{(Filter is null ? "" : $" with filter '{Filter}'")}")) return;
        Try(() => Instance.EnableEvents(events, Filter), Filter ?? what);
        if (PassThru) foreach (var (s, n) in events) WriteObject(Instance.GetEvent(s, n));
    }
}
