namespace KernelDebug;

/// <summary>One CPU's ring-buffer pages in a trace.dat: where they are and how many bytes they take in the file.</summary>
public sealed record TraceDatCpu(int Cpu, long Offset, long Size);

/// <summary>
/// One trace buffer saved in a trace.dat: the top-level buffer (Name "") or an instance's. Flyrecord buffers hold
/// ring-buffer pages per CPU; latency buffers hold the kernel's text trace.
/// </summary>
public sealed class TraceDatBuffer
{
    public string Name { get; init; } = "";
    /// <summary>The trace clock the buffer's timestamps are in (local, mono, counter...).</summary>
    public string? Clock { get; init; }
    public int PageSize { get; init; }
    public IReadOnlyList<TraceDatCpu> Cpus { get; init; } = Array.Empty<TraceDatCpu>();
    /// <summary>True when the pages are compressed in chunks (version 7 files written with --compression).</summary>
    public bool Compressed { get; init; }
    /// <summary>A latency (text) buffer: no pages to decode.</summary>
    public bool IsLatency { get; init; }
    /// <summary>Where the buffer's section starts (version 7) or its flyrecord header (version 6).</summary>
    public long SectionOffset { get; init; }
    /// <summary>Bytes of page data in the file, over all CPUs.</summary>
    public long DataSize => Cpus.Sum(c => c.Size);

    public override string ToString() => Name.Length == 0 ? "(top)" : Name;
}

/// <summary>What a trace.dat says about itself: the header and the options, without the trace data.</summary>
public sealed class TraceDatInfo
{
    public string Path { get; init; } = "";
    public int FileVersion { get; init; }
    public bool BigEndian { get; init; }
    /// <summary>Bytes of a long in the traced machine's user space.</summary>
    public int LongSize { get; init; }
    public int PageSize { get; init; }
    /// <summary>The compression of version 7 sections (zstd, zlib), or null when none.</summary>
    public string? Compression { get; init; }
    public string? CompressionVersion { get; init; }
    public int CpuCount { get; init; }
    /// <summary>The selected trace clock of the top-level buffer (TRACECLOCK option), if saved.</summary>
    public string? TraceClock { get; init; }
    public string? Uname { get; init; }
    /// <summary>The trace-cmd version that wrote the file (VERSION option), if saved.</summary>
    public string? TraceCmdVersion { get; init; }
    /// <summary>Nanoseconds added to every timestamp (DATE and OFFSET options), as trace-cmd report adds them.</summary>
    public long TimestampOffset { get; init; }
    public int EventFormatCount { get; init; }
    public IReadOnlyList<TraceDatBuffer> Buffers { get; init; } = Array.Empty<TraceDatBuffer>();

    public override string ToString() => $"{Path} (trace.dat v{FileVersion}, {Buffers.Count} buffer(s))";
}
