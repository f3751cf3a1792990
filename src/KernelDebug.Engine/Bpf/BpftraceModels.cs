namespace KernelDebug;

/// <summary>A line of text bpftrace printed: printf output (one object per line), time(), join(), cat(), system() or print() of a value.</summary>
public sealed class BpftraceText
{
    /// <summary>printf, time, join, cat, system, syscall or value.</summary>
    public string Kind { get; init; } = "printf";
    public string Text { get; init; } = "";
    /// <summary>For print(value): the value, typed (number, string, or object[] for a tuple).</summary>
    public object? Value { get; init; }

    public override string ToString() => Text;
}

/// <summary>A bpftrace map as printed at exit or by print(@map): a scalar, or entries keyed by typed keys.</summary>
public sealed class BpftraceMap
{
    public string Name { get; init; } = "";
    /// <summary>For maps without keys (@x = count()): the value.</summary>
    public object? Value { get; init; }
    /// <summary>For keyed maps: key → value in bpftrace's order. Integer keys are Int32/Int64, strings stay strings,
    /// several keys ([pid, comm]) become a Tuple of the typed parts. A Dictionary (insertion-ordered while nothing is
    /// removed) rather than an OrderedDictionary, whose int indexer would read $m.Entries[1234] as a position.</summary>
    public Dictionary<object, object?>? Entries { get; init; }
    public bool IsScalar => Entries is null;

    public override string ToString() => IsScalar ? $"{Name}: {Value}" : $"{Name}: {Entries!.Count} entries";
}

/// <summary>A hist() or lhist() of bpftrace (one per key of a keyed map).</summary>
public sealed class BpftraceHistogram
{
    public string Name { get; init; } = "";
    /// <summary>The map key for @h[key] = hist(...); null for an unkeyed histogram.</summary>
    public object? Key { get; init; }
    public ItemList<BpftraceHistogramBucket> Buckets { get; init; } = ItemList<BpftraceHistogramBucket>.Empty;
    public ulong TotalCount => (ulong)Buckets.Sum(b => (decimal)b.Count);

    public override string ToString() => Key is null ? Name : $"{Name}[{Key}]";
}

/// <summary>One bucket of a histogram: [Min, Max] (open-ended where null) and its count, with bpftrace's bar.</summary>
public sealed class BpftraceHistogramBucket
{
    public string Histogram { get; init; } = "";
    public object? Key { get; init; }
    public long? Min { get; init; }
    public long? Max { get; init; }
    public ulong Count { get; init; }
    /// <summary>The bucket's bar, scaled to the largest bucket of its histogram (52 characters), as bpftrace draws it.</summary>
    public string Bar { get; init; } = "";
    /// <summary>The bucket as bpftrace labels it: [64, 128), [0], (..., 0), [512K, 1M), [100, ...).</summary>
    public string Range { get; init; } = "";

    public override string ToString() => $"{Range} {Count}";
}

/// <summary>stats() of bpftrace: count, average, total (one per key of a keyed map).</summary>
public sealed class BpftraceStats
{
    public string Name { get; init; } = "";
    public object? Key { get; init; }
    public long Count { get; init; }
    public long Average { get; init; }
    public long Total { get; init; }

    public override string ToString() => $"{Name}: count {Count}, average {Average}, total {Total}";
}
