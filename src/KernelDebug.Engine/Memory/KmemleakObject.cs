namespace KernelDebug;

/// <summary>One object kmemleak suspects of leaking ("unreferenced object 0x… (size N):").</summary>
public sealed class KmemleakObject
{
    public ulong Address { get; init; }
    public long Size { get; init; }
    /// <summary>The task that allocated it.</summary>
    public string? Comm { get; init; }
    public int? ProcessId { get; init; }
    /// <summary>The jiffies value at allocation.</summary>
    public ulong? Jiffies { get; init; }
    /// <summary>How long ago it was allocated: as printed (kernels before 6.8), or from the current jiffies on the live host.</summary>
    public TimeSpan? Age { get; init; }
    /// <summary>The first bytes of the object (up to 32), from the hex dump.</summary>
    public ItemList<byte> HexDump { get; init; } = ItemList<byte>.Empty;
    public ItemList<KernelReportFrame> Backtrace { get; init; } = ItemList<KernelReportFrame>.Empty;
    /// <summary>The backtrace checksum kernels from 6.7 print ("backtrace (crc 8bde6d4c):"); equal for leaks from one call path.</summary>
    public uint? Crc { get; init; }
    /// <summary>The first backtrace frame outside the allocator: the code that made the allocation.</summary>
    public KernelReportFrame? AllocatedIn => Memory.KernelFrameParser.FirstCaller(Backtrace);
    public string? Source { get; init; }
    public int? LineNumber { get; init; }
    public string Raw { get; init; } = string.Empty;

    public override string ToString() => $"0x{Address:x} ({Size} bytes) by {Comm}/{ProcessId}";
}
