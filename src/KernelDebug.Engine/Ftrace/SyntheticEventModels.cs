namespace KernelDebug
{
    /// <summary>A synthetic event (synthetic_events / dynamic_events "s:"), as the kernel lists it.</summary>
    public sealed class SyntheticEvent
    {
        public string Name { get; init; } = "";
        /// <summary>The fields, "type name" each (pid_t pid, u64 lat, char comm[16]).</summary>
        public ItemList<string> Fields { get; init; } = ItemList<string>.Empty;
        /// <summary>The line as synthetic_events shows it.</summary>
        public string Definition { get; init; } = "";
        /// <summary>The event's name in the event tree: synthetic:&lt;name&gt;, for hist triggers and Enable-TraceEvent.</summary>
        public string FullName => "synthetic:" + Name;

        public override string ToString() => Definition;
    }

    /// <summary>Wakeup latency of one task: log2 buckets of the time from sched_waking to its sched_switch in.</summary>
    public sealed class WakeupLatencyHistogram
    {
        public int ProcessId { get; init; }
        public string Command { get; init; } = "";
        /// <summary>Wakeups measured.</summary>
        public ulong Count { get; init; }
        /// <summary>The upper bound of the highest non-empty bucket, in microseconds.</summary>
        public ulong MaxMicroseconds { get; init; }
        public ItemList<WakeupLatencyBucket> Buckets { get; init; } = ItemList<WakeupLatencyBucket>.Empty;

        public override string ToString() => $"{Command}[{ProcessId}] {Count} wakeups, up to {MaxMicroseconds} us";
    }

    /// <summary>One log2 bucket: wakeups whose latency was at most UpToMicroseconds (and above half of it).</summary>
    public sealed class WakeupLatencyBucket
    {
        public ulong UpToMicroseconds { get; init; }
        public ulong Count { get; init; }

        public override string ToString() => $"<= {UpToMicroseconds} us: {Count}";
    }
}
