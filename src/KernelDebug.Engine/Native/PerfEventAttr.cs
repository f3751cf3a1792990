using System.Runtime.InteropServices;

namespace KernelDebug.Native;

/// <summary>struct perf_event_attr (include/uapi/linux/perf_event.h), PERF_ATTR_SIZE_VER8 = 136 bytes.</summary>
[StructLayout(LayoutKind.Explicit, Size = 136)]
public struct PerfEventAttr
{
    public const int SizeVer8 = 136;

    [FieldOffset(0)] public uint Type;
    [FieldOffset(4)] public uint Size;
    [FieldOffset(8)] public ulong Config;
    /// <summary>sample_period, or sample_freq when the Freq flag is set.</summary>
    [FieldOffset(16)] public ulong SamplePeriodOrFreq;
    [FieldOffset(24)] public ulong SampleType;
    [FieldOffset(32)] public ulong ReadFormat;
    /// <summary>The bit-field word: disabled, inherit, pinned, exclusive, exclude_user, …</summary>
    [FieldOffset(40)] public ulong Flags;
    [FieldOffset(48)] public uint WakeupEventsOrWatermark;
    [FieldOffset(52)] public uint BpType;
    [FieldOffset(56)] public ulong Config1;
    [FieldOffset(64)] public ulong Config2;
    [FieldOffset(72)] public ulong BranchSampleType;
    [FieldOffset(80)] public ulong SampleRegsUser;
    [FieldOffset(88)] public uint SampleStackUser;
    [FieldOffset(92)] public int ClockId;
    [FieldOffset(96)] public ulong SampleRegsIntr;
    [FieldOffset(104)] public uint AuxWatermark;
    [FieldOffset(108)] public ushort SampleMaxStack;
    [FieldOffset(110)] public ushort Reserved2;
    [FieldOffset(112)] public uint AuxSampleSize;
    [FieldOffset(116)] public uint Reserved3;
    [FieldOffset(120)] public ulong SigData;
    [FieldOffset(128)] public ulong Config3;
}

/// <summary>Bits of perf_event_attr's flag word, in the kernel's declaration order.</summary>
[Flags]
public enum PerfAttrFlags : ulong
{
    Disabled = 1UL << 0, Inherit = 1UL << 1, Pinned = 1UL << 2, Exclusive = 1UL << 3,
    ExcludeUser = 1UL << 4, ExcludeKernel = 1UL << 5, ExcludeHv = 1UL << 6, ExcludeIdle = 1UL << 7,
    Mmap = 1UL << 8, Comm = 1UL << 9, Freq = 1UL << 10, InheritStat = 1UL << 11, EnableOnExec = 1UL << 12,
    Task = 1UL << 13, Watermark = 1UL << 14, /* precise_ip: bits 15-16 */ MmapData = 1UL << 17,
    SampleIdAll = 1UL << 18, ExcludeHost = 1UL << 19, ExcludeGuest = 1UL << 20, ExcludeCallchainKernel = 1UL << 21,
    ExcludeCallchainUser = 1UL << 22, Mmap2 = 1UL << 23, CommExec = 1UL << 24, UseClockId = 1UL << 25,
    ContextSwitch = 1UL << 26, WriteBackward = 1UL << 27, Namespaces = 1UL << 28, Ksymbol = 1UL << 29,
    BpfEvent = 1UL << 30, AuxOutput = 1UL << 31, Cgroup = 1UL << 32, TextPoke = 1UL << 33, BuildId = 1UL << 34,
    InheritThread = 1UL << 35, RemoveOnExec = 1UL << 36, SigTrap = 1UL << 37,
}

public enum PerfTypeId : uint { Hardware = 0, Software = 1, Tracepoint = 2, HwCache = 3, Raw = 4, Breakpoint = 5 }
