using System.Management.Automation;
using KernelDebug.Ftrace;

namespace KernelDebug.Commands.Ftrace;

/// <summary>
/// Adds a trigger (traceon, traceoff, snapshot, stacktrace, enable_event, disable_event) to events of an instance,
/// with an optional count and filter. Validated before the write; the kernel's error_log text on refusal. Triggers
/// made here are removed when the process exits, if still there (and with their instance).
/// </summary>
[Cmdlet(VerbsCommon.New, "TraceEventTrigger", SupportsShouldProcess = true)]
[OutputType(typeof(TraceEventTrigger))]
public sealed class NewTraceEventTriggerCommand : FtraceCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance Instance { get; set; } = null!;

    /// <summary>Events to put the trigger on ('system:event' globs).</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ArgumentCompleter(typeof(TraceEventNameCompleter))]
    [SupportsWildcards]
    public string[] Event { get; set; } = Array.Empty<string>();

    [Parameter(Mandatory = true, Position = 2)]
    [ValidateSet("TraceOn", "TraceOff", "Snapshot", "StackTrace", "EnableEvent", "DisableEvent", "EnableHist", "DisableHist", IgnoreCase = true)]
    public TraceTriggerType Type { get; set; }

    /// <summary>Fire this many times only (the kernel counts down); always when omitted.</summary>
    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long Count { get; set; }

    /// <summary>Fire only for records matching this filter (the event filter syntax).</summary>
    [Parameter]
    public string? Filter { get; set; }

    /// <summary>The event an EnableEvent/DisableEvent trigger switches (system:event).</summary>
    [Parameter]
    [ArgumentCompleter(typeof(TraceEventNameCompleter))]
    public string? TargetEvent { get; set; }

    protected override void ProcessRecord()
    {
        long? count = MyInvocation.BoundParameters.ContainsKey(nameof(Count)) ? Count : null;
        var filter = string.IsNullOrWhiteSpace(Filter) ? null : Filter;
        var target = string.IsNullOrWhiteSpace(TargetEvent) ? null : TargetEvent;
        // The definition is checked before any event is matched or written.
        var definition = Try(() => EventTriggers.Definition(Type, count, filter, target), Type);
        foreach (var (system, name) in MatchEvents(Event))
        {
            if (!ShouldProcess($"{system}:{name} in {Instance.Name}", $"Add trigger '{definition}'")) continue;
            try { WriteObject(EventTriggers.Add(Instance, (system, name), Type, count, filter, target)); }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, $"{system}:{name}"); }
        }
    }
}
