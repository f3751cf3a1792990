using System.Globalization;

namespace KernelDebug
{
    /// <summary>One table of an event's hist file: its trigger, its buckets and the totals.</summary>
    public sealed class TraceHistogram
    {
        public string? Instance { get; init; }
        public string? System { get; init; }
        public string? Event { get; init; }
        /// <summary>The trigger as "# trigger info:" shows it, without its [active]/[paused] state.</summary>
        public string Trigger { get; init; } = "";
        public bool Paused { get; init; }
        /// <summary>The key fields, as printed (without modifiers), in trigger order.</summary>
        public ItemList<string> KeyNames { get; init; } = ItemList<string>.Empty;
        /// <summary>The key fields' modifiers (execname, sym, log2...), "" where none.</summary>
        public ItemList<string> KeyModifiers { get; init; } = ItemList<string>.Empty;
        public ItemList<string> ValueNames { get; init; } = ItemList<string>.Empty;
        public ItemList<TraceHistogramBucket> Buckets { get; init; } = ItemList<TraceHistogramBucket>.Empty;
        /// <summary>Totals: events counted, table entries used, hits dropped for want of entries (null where not printed).</summary>
        public long? Hits { get; init; }
        public long? Entries { get; init; }
        public long? Dropped { get; init; }

        public override string ToString() => $"{Trigger} ({Buckets.Count} buckets)";
    }

    /// <summary>One bucket (hash-table entry) of a histogram: typed keys, the labels the kernel printed for them, and the sums.</summary>
    public sealed class TraceHistogramBucket
    {
        /// <summary>Key values, typed by the event's field where known: pid for .execname, address for .sym, id for .syscall, the lower bound for .log2/.buckets.</summary>
        public TraceFieldValues Keys { get; init; } = TraceFieldValues.Empty;
        /// <summary>What the kernel printed beside a key value: the comm, symbol, syscall name, or log2/bucket range.</summary>
        public TraceFieldValues Labels { get; init; } = TraceFieldValues.Empty;
        /// <summary>hitcount and the value sums, as numbers.</summary>
        public TraceFieldValues Values { get; init; } = TraceFieldValues.Empty;
        public ulong HitCount { get; init; }
        /// <summary>The frames of a stacktrace key.</summary>
        public ItemList<string>? StackTrace { get; init; }

        public override string ToString() => $"{{ {Keys} }} {Values}";
    }
}
