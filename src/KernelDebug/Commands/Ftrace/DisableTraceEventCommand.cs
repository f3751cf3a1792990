using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Disables trace events in an instance and clears their filters (-KeepFilter keeps them).</summary>
[Cmdlet(VerbsLifecycle.Disable, "TraceEvent", SupportsShouldProcess = true, DefaultParameterSetName = "Name")]
[OutputType(typeof(TraceEventInfo))]
public sealed class DisableTraceEventCommand : TraceEventSwitchCommandBase
{
    [Parameter]
    public SwitchParameter KeepFilter { get; set; }

    protected override string Describe(string events) => $"Disable {events}";

    protected override void Apply(IReadOnlyList<(string System, string Name)> events, string what) =>
        Try(() => Instance.DisableEvents(events, clearFilter: !KeepFilter), what);
}
