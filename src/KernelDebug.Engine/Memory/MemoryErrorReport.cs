using KernelDebug.Memory;

namespace KernelDebug;

public enum MemoryErrorDetector { KASAN, KFENCE, UBSAN }

/// <summary>One frame of a kernel stack as KASAN, KFENCE, UBSAN and kmemleak print it.</summary>
public sealed class KernelReportFrame
{
    /// <summary>The function; null when the kernel printed only an address (e.g. freed module init text).</summary>
    public string? Symbol { get; init; }
    public ulong? Offset { get; init; }
    public ulong? Size { get; init; }
    public string? Module { get; init; }
    /// <summary>The [&lt;address&gt;] printed before the frame, or the bare address of an unsymbolized frame.</summary>
    public ulong? Address { get; init; }
    /// <summary>A frame the compiler inlined into the next one (syzbot's symbolized reports mark them [inline]).</summary>
    public bool Inlined { get; init; }
    /// <summary>False for "? " frames: the unwinder found the address on the stack but is not sure it is a return address.</summary>
    public bool Reliable { get; init; } = true;
    public string? File { get; init; }
    public int? Line { get; init; }

    public override string ToString()
    {
        var s = Symbol is null ? $"0x{Address:x}" : Offset is null ? Symbol : $"{Symbol}+0x{Offset:x}/0x{Size:x}";
        if (Module is not null) s += $" [{Module}]";
        if (File is not null) s += $" {File}:{Line}";
        if (Inlined) s += " [inline]";
        return Reliable ? s : "? " + s;
    }
}

/// <summary>Who allocated or freed the object (KASAN "Allocated by task N:", KFENCE "allocated by task N:").</summary>
public sealed class MemoryTrack
{
    public string? Task { get; init; }
    public int? ProcessId { get; init; }
    public int? Cpu { get; init; }
    public ItemList<KernelReportFrame> Stack { get; init; } = ItemList<KernelReportFrame>.Empty;

    /// <summary>The first frame outside the allocator and KASAN's stack saving: the code that allocated or freed.</summary>
    public KernelReportFrame? Caller => KernelFrameParser.FirstCaller(Stack) ?? Stack.FirstOrDefault();

    /// <summary>"task N: caller frame".</summary>
    public override string ToString() => $"task {ProcessId}: {Caller?.ToString() ?? "(no stack)"}";
}

/// <summary>The object the bad address belongs to.</summary>
public sealed class MemoryObjectInfo
{
    /// <summary>The slab cache (kmalloc-128, names_cache …); null for globals, stack and page-level memory.</summary>
    public string? Cache { get; init; }
    public long? Size { get; init; }
    /// <summary>Where the bad address lies relative to the object's start: negative to the left, ≥ Size to the right.</summary>
    public long? Offset { get; init; }
    public ulong? Address { get; init; }
    /// <summary>For global-out-of-bounds: the variable KASAN names.</summary>
    public string? Variable { get; init; }

    public override string ToString() => Cache is not null ? $"{Cache} ({Size} bytes) at offset {Offset}" : Variable ?? $"{Size} bytes";
}

/// <summary>A KASAN, KFENCE or UBSAN report found in the kernel log.</summary>
public sealed class MemoryErrorReport
{
    public MemoryErrorDetector Detector { get; init; }
    /// <summary>use-after-free, slab-out-of-bounds, array-index-out-of-bounds …, as the detector names it.</summary>
    public string BugType { get; set; } = string.Empty;
    /// <summary>Read, Write or Free; null when the detector does not say (UBSAN).</summary>
    public string? AccessType { get; set; }
    public int? AccessSize { get; set; }
    public ulong? Address { get; set; }
    /// <summary>The function named in the header (for UBSAN: the first frame outside the sanitizer).</summary>
    public string? Function { get; set; }
    /// <summary>UBSAN: the source location in the header (fs/f2fs/node.c:1170:12).</summary>
    public string? Location { get; set; }
    /// <summary>UBSAN: the explanation lines ("index 5 is out of range for type 'u8 [4]'").</summary>
    public string? Description { get; set; }
    public string? Task { get; set; }
    public int? ProcessId { get; set; }
    public int? Cpu { get; set; }
    public string? KernelVersion { get; set; }
    public string? Tainted { get; set; }
    public ItemList<KernelReportFrame> CallTrace { get; set; } = ItemList<KernelReportFrame>.Empty;
    public MemoryTrack? AllocatedBy { get; set; }
    public MemoryTrack? FreedBy { get; set; }
    public MemoryObjectInfo? Object { get; set; }
    /// <summary>The "Memory state around the buggy address" lines, as printed (the line with '>' is the bad one).</summary>
    public ItemList<string> ShadowMemory { get; set; } = ItemList<string>.Empty;
    /// <summary>syzbot-style one-line title: "KASAN: use-after-free Read in function".</summary>
    public string Title { get; set; } = string.Empty;
    /// <summary>A hash of detector, bug type and the top frames outside the reporting machinery: equal for repeats of one bug.</summary>
    public string Signature { get; set; } = string.Empty;
    /// <summary>When the report's header line was logged (live log, or a saved log with -BootTime or dmesg -T).</summary>
    public DateTime? Timestamp { get; set; }
    public TimeSpan? TimeSinceBoot { get; set; }
    /// <summary>The printk caller (T123) the report's lines came from, when the log has caller ids.</summary>
    public string? Caller { get; set; }
    public string? Source { get; set; }
    public int? LineNumber { get; set; }
    /// <summary>The report's text, without timestamp and caller prefixes.</summary>
    public string Raw { get; set; } = string.Empty;

    public override string ToString() => Title;
}
