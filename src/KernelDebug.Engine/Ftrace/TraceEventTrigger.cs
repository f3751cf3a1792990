namespace KernelDebug;

/// <summary>The command of an event trigger (events/&lt;system&gt;/&lt;event&gt;/trigger).</summary>
public enum TraceTriggerType
{
    TraceOn,
    TraceOff,
    Snapshot,
    StackTrace,
    EnableEvent,
    DisableEvent,
    /// <summary>A hist trigger (listed only: hist triggers have their own definition).</summary>
    Hist,
    EnableHist,
    DisableHist,
}

/// <summary>One trigger of a trace event in an instance, as its trigger file lists it.</summary>
public sealed class TraceEventTrigger
{
    public string Instance { get; init; } = "";
    public string System { get; init; } = "";
    public string Event { get; init; } = "";
    public TraceTriggerType Type { get; init; }
    /// <summary>Times it still fires; null when unlimited. The kernel counts it down as the trigger fires.</summary>
    public long? Count { get; init; }
    /// <summary>The filter (after "if"), or null.</summary>
    public string? Filter { get; init; }
    /// <summary>The event that enable_event/disable_event switch, as system:event.</summary>
    public string? TargetEvent { get; init; }
    /// <summary>The line as the trigger file shows it.</summary>
    public string Definition { get; init; } = "";

    public string FullName => $"{System}:{Event}";
    public override string ToString() => $"{FullName}: {Definition}";
}
