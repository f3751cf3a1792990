namespace KernelDebug;

/// <summary>A tracer the kernel offers (available_tracers) in one instance.</summary>
public sealed class FtraceTracer
{
    public string Name { get; init; } = "";
    public bool IsCurrent { get; init; }
    public string Instance { get; init; } = FtraceInstance.TopLevelName;

    /// <summary>What the tracer records, after Documentation/trace/ftrace.rst; empty for a tracer this module does not know.</summary>
    public string Description => Descriptions.TryGetValue(Name, out var d) ? d : "";

    private static readonly Dictionary<string, string> Descriptions = new(StringComparer.Ordinal)
    {
        ["nop"] = "No tracer: trace events only",
        ["function"] = "Entry of every kernel function",
        ["function_graph"] = "Entry and exit of kernel functions, as a call graph with durations",
        ["blk"] = "Block I/O requests (blktrace)",
        ["mmiotrace"] = "Memory-mapped I/O of a driver",
        ["hwlat"] = "Latency caused outside the kernel (SMIs, firmware, hypervisor)",
        ["irqsoff"] = "Longest time with interrupts off",
        ["preemptoff"] = "Longest time with preemption off",
        ["preemptirqsoff"] = "Longest time with interrupts or preemption off",
        ["wakeup"] = "Longest wakeup latency of the highest-priority task",
        ["wakeup_rt"] = "Longest wakeup latency of a real-time task",
        ["wakeup_dl"] = "Longest wakeup latency of a SCHED_DEADLINE task",
        ["osnoise"] = "Noise from the OS and hardware seen by a workload thread",
        ["timerlat"] = "Wakeup latency of timer-woken threads",
    };

    public override string ToString() => Name;
}
