using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>
/// Enables trace events in an instance, optionally with a filter. All or nothing: if the kernel refuses the filter
/// for one event, no event is enabled and the error carries the kernel's message and position.
/// </summary>
[Cmdlet(VerbsLifecycle.Enable, "TraceEvent", SupportsShouldProcess = true, DefaultParameterSetName = "Name")]
[OutputType(typeof(TraceEventInfo))]
public sealed class EnableTraceEventCommand : TraceEventSwitchCommandBase
{
    [Parameter(Position = 1)]
    public string? Filter { get; set; }

    protected override string Describe(string events) => $"Enable {events}{(Filter is null ? "" : $" with filter '{Filter}'")}";

    protected override void Apply(IReadOnlyList<(string System, string Name)> events, string what) =>
        Try(() => Instance.EnableEvents(events, Filter), Filter ?? what);
}
