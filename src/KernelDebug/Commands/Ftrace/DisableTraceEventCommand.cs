using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Disables trace events in an instance and clears their filters (-KeepFilter keeps them).</summary>
[Cmdlet(VerbsLifecycle.Disable, "TraceEvent", SupportsShouldProcess = true, DefaultParameterSetName = "Name")]
[OutputType(typeof(TraceEventInfo))]
public sealed class DisableTraceEventCommand : FtraceCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Name")]
    [ArgumentCompleter(typeof(TraceEventNameCompleter))]
    [SupportsWildcards]
    public string[] Name { get; set; } = Array.Empty<string>();

    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "InputObject")]
    public TraceEventInfo[] InputObject { get; set; } = Array.Empty<TraceEventInfo>();

    [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "Name")]
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "InputObject")]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance Instance { get; set; } = null!;

    [Parameter]
    public SwitchParameter KeepFilter { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var events = ParameterSetName == "Name" ? MatchEvents(Name) : InputObject.Select(e => (e.System, e.Name)).ToList();
        if (events.Count == 0) return;
        var what = events.Count == 1 ? $"{events[0].System}:{events[0].Name}" : $"{events.Count} events";
        if (!ShouldProcess(Instance.Name, $"Disable {what}")) return;
        Try(() => Instance.DisableEvents(events, clearFilter: !KeepFilter), what);
        if (PassThru) foreach (var (s, n) in events) WriteObject(Instance.GetEvent(s, n));
    }
}
