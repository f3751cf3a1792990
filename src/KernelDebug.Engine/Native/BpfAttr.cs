using System.Runtime.InteropServices;

namespace KernelDebug.Native;

// Parts of union bpf_attr and the bpf_*_info structs (include/uapi/linux/bpf.h). Offsets are tested against the
// installed header in NativeLayoutTests; fields newer than that header are documented with the kernel version.

/// <summary>union bpf_attr for BPF_*_GET_NEXT_ID and BPF_*_GET_FD_BY_ID.</summary>
[StructLayout(LayoutKind.Explicit, Size = 12)]
internal struct BpfIdAttr
{
    /// <summary>start_id, or prog_id/map_id/btf_id/link_id for GET_FD_BY_ID (one union).</summary>
    [FieldOffset(0)] public uint StartId;
    [FieldOffset(4)] public uint NextId;
    [FieldOffset(8)] public uint OpenFlags;
}

/// <summary>union bpf_attr for BPF_OBJ_PIN and BPF_OBJ_GET: a bpffs path (NUL-terminated) and, to pin, the fd.</summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
internal struct BpfObjAttr
{
    [FieldOffset(0)] public ulong PathName;
    [FieldOffset(8)] public uint BpfFd;
    [FieldOffset(12)] public uint FileFlags;
}

/// <summary>union bpf_attr for BPF_OBJ_GET_INFO_BY_FD (info).</summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
internal struct BpfInfoAttr
{
    [FieldOffset(0)] public uint BpfFd;
    [FieldOffset(4)] public uint InfoLen;
    [FieldOffset(8)] public ulong Info;
}

/// <summary>union bpf_attr for BPF_MAP_*_ELEM and BPF_MAP_GET_NEXT_KEY.</summary>
[StructLayout(LayoutKind.Explicit, Size = 32)]
internal struct BpfMapElemAttr
{
    [FieldOffset(0)] public uint MapFd;
    [FieldOffset(8)] public ulong Key;
    /// <summary>value, or next_key for BPF_MAP_GET_NEXT_KEY.</summary>
    [FieldOffset(16)] public ulong ValueOrNextKey;
    [FieldOffset(24)] public ulong Flags;
}

/// <summary>union bpf_attr for BPF_MAP_CREATE.</summary>
[StructLayout(LayoutKind.Explicit, Size = 72)]
internal unsafe struct BpfMapCreateAttr
{
    [FieldOffset(0)] public uint MapType;
    [FieldOffset(4)] public uint KeySize;
    [FieldOffset(8)] public uint ValueSize;
    [FieldOffset(12)] public uint MaxEntries;
    [FieldOffset(16)] public uint MapFlags;
    [FieldOffset(20)] public uint InnerMapFd;
    [FieldOffset(24)] public uint NumaNode;
    [FieldOffset(28)] public fixed byte MapName[16];
    [FieldOffset(44)] public uint MapIfIndex;
    [FieldOffset(48)] public uint BtfFd;
    [FieldOffset(52)] public uint BtfKeyTypeId;
    [FieldOffset(56)] public uint BtfValueTypeId;
    [FieldOffset(60)] public uint BtfVmlinuxValueTypeId;
    [FieldOffset(64)] public ulong MapExtra;
}

/// <summary>union bpf_attr for BPF_PROG_LOAD (up to core_relo_cnt).</summary>
[StructLayout(LayoutKind.Explicit, Size = 120)]
internal unsafe struct BpfProgLoadAttr
{
    [FieldOffset(0)] public uint ProgType;
    [FieldOffset(4)] public uint InsnCnt;
    [FieldOffset(8)] public ulong Insns;
    [FieldOffset(16)] public ulong License;
    [FieldOffset(24)] public uint LogLevel;
    [FieldOffset(28)] public uint LogSize;
    [FieldOffset(32)] public ulong LogBuf;
    [FieldOffset(40)] public uint KernVersion;
    [FieldOffset(44)] public uint ProgFlags;
    [FieldOffset(48)] public fixed byte ProgName[16];
    [FieldOffset(64)] public uint ProgIfIndex;
    [FieldOffset(68)] public uint ExpectedAttachType;
    [FieldOffset(72)] public uint ProgBtfFd;
    [FieldOffset(76)] public uint FuncInfoRecSize;
    [FieldOffset(80)] public ulong FuncInfo;
    [FieldOffset(88)] public uint FuncInfoCnt;
    [FieldOffset(92)] public uint LineInfoRecSize;
    [FieldOffset(96)] public ulong LineInfo;
    [FieldOffset(104)] public uint LineInfoCnt;
    [FieldOffset(108)] public uint AttachBtfId;
    /// <summary>attach_prog_fd or attach_btf_obj_fd (0: vmlinux).</summary>
    [FieldOffset(112)] public uint AttachBtfObjFd;
}

/// <summary>union bpf_attr for BPF_BTF_LOAD.</summary>
[StructLayout(LayoutKind.Explicit, Size = 32)]
internal struct BpfBtfLoadAttr
{
    [FieldOffset(0)] public ulong Btf;
    [FieldOffset(8)] public ulong BtfLogBuf;
    [FieldOffset(16)] public uint BtfSize;
    [FieldOffset(20)] public uint BtfLogSize;
    [FieldOffset(24)] public uint BtfLogLevel;
}

/// <summary>union bpf_attr for BPF_LINK_CREATE (the perf_event.bpf_cookie member of its union).</summary>
[StructLayout(LayoutKind.Explicit, Size = 32)]
internal struct BpfLinkCreateAttr
{
    [FieldOffset(0)] public uint ProgFd;
    [FieldOffset(4)] public uint TargetFd;
    [FieldOffset(8)] public uint AttachType;
    [FieldOffset(12)] public uint Flags;
    [FieldOffset(16)] public ulong BpfCookie;
}

/// <summary>union bpf_attr for BPF_RAW_TRACEPOINT_OPEN.</summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
internal struct BpfRawTracepointAttr
{
    [FieldOffset(0)] public ulong Name;
    [FieldOffset(8)] public uint ProgFd;
}

/// <summary>struct bpf_prog_info (the 6.1 layout, 232 bytes; the kernel fills what the given size covers).</summary>
[StructLayout(LayoutKind.Explicit, Size = 232)]
internal unsafe struct BpfProgInfo
{
    [FieldOffset(0)] public uint Type;
    [FieldOffset(4)] public uint Id;
    [FieldOffset(8)] public fixed byte Tag[8];
    [FieldOffset(16)] public uint JitedProgLen;
    [FieldOffset(20)] public uint XlatedProgLen;
    [FieldOffset(24)] public ulong JitedProgInsns;
    [FieldOffset(32)] public ulong XlatedProgInsns;
    [FieldOffset(40)] public ulong LoadTime;
    [FieldOffset(48)] public uint CreatedByUid;
    [FieldOffset(52)] public uint NrMapIds;
    [FieldOffset(56)] public ulong MapIds;
    [FieldOffset(64)] public fixed byte Name[16];
    [FieldOffset(80)] public uint IfIndex;
    [FieldOffset(84)] public uint GplCompatible;
    [FieldOffset(88)] public ulong NetnsDev;
    [FieldOffset(96)] public ulong NetnsIno;
    [FieldOffset(104)] public uint NrJitedKsyms;
    [FieldOffset(108)] public uint NrJitedFuncLens;
    [FieldOffset(112)] public ulong JitedKsyms;
    [FieldOffset(120)] public ulong JitedFuncLens;
    [FieldOffset(128)] public uint BtfId;
    [FieldOffset(132)] public uint FuncInfoRecSize;
    [FieldOffset(136)] public ulong FuncInfo;
    [FieldOffset(144)] public uint NrFuncInfo;
    [FieldOffset(148)] public uint NrLineInfo;
    [FieldOffset(152)] public ulong LineInfo;
    [FieldOffset(160)] public ulong JitedLineInfo;
    [FieldOffset(168)] public uint NrJitedLineInfo;
    [FieldOffset(172)] public uint LineInfoRecSize;
    [FieldOffset(176)] public uint JitedLineInfoRecSize;
    [FieldOffset(180)] public uint NrProgTags;
    [FieldOffset(184)] public ulong ProgTags;
    [FieldOffset(192)] public ulong RunTimeNs;
    [FieldOffset(200)] public ulong RunCnt;
    [FieldOffset(208)] public ulong RecursionMisses;
    [FieldOffset(216)] public uint VerifiedInsns;
    [FieldOffset(220)] public uint AttachBtfObjId;
    [FieldOffset(224)] public uint AttachBtfId;
}

/// <summary>struct bpf_map_info.</summary>
[StructLayout(LayoutKind.Explicit, Size = 88)]
internal unsafe struct BpfMapInfo
{
    [FieldOffset(0)] public uint Type;
    [FieldOffset(4)] public uint Id;
    [FieldOffset(8)] public uint KeySize;
    [FieldOffset(12)] public uint ValueSize;
    [FieldOffset(16)] public uint MaxEntries;
    [FieldOffset(20)] public uint MapFlags;
    [FieldOffset(24)] public fixed byte Name[16];
    [FieldOffset(40)] public uint IfIndex;
    [FieldOffset(44)] public uint BtfVmlinuxValueTypeId;
    [FieldOffset(48)] public ulong NetnsDev;
    [FieldOffset(56)] public ulong NetnsIno;
    [FieldOffset(64)] public uint BtfId;
    [FieldOffset(68)] public uint BtfKeyTypeId;
    [FieldOffset(72)] public uint BtfValueTypeId;
    [FieldOffset(80)] public ulong MapExtra;
}

/// <summary>struct bpf_btf_info.</summary>
[StructLayout(LayoutKind.Explicit, Size = 32)]
internal struct BpfBtfInfo
{
    [FieldOffset(0)] public ulong Btf;
    [FieldOffset(8)] public uint BtfSize;
    [FieldOffset(12)] public uint Id;
    [FieldOffset(16)] public ulong Name;
    [FieldOffset(24)] public uint NameLen;
    [FieldOffset(28)] public uint KernelBtf;
}

/// <summary>
/// struct bpf_link_info: the common head and the union members read here, by offset. The union starts at 16.
/// perf_event (6.6+): type at 16, then at 24 a name pointer (tracepoint tp_name, kprobe func_name, uprobe file_name)
/// with its length at 32, the probe offset at 36 and the kprobe address at 40; event.config at 24 and event.type at 32.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 72)]
internal struct BpfLinkInfo
{
    [FieldOffset(0)] public uint Type;
    [FieldOffset(4)] public uint Id;
    [FieldOffset(8)] public uint ProgId;
    // raw_tracepoint
    [FieldOffset(16)] public ulong RawTpName;
    [FieldOffset(24)] public uint RawTpNameLen;
    // tracing
    [FieldOffset(16)] public uint TracingAttachType;
    [FieldOffset(20)] public uint TracingTargetObjId;
    [FieldOffset(24)] public uint TracingTargetBtfId;
    // cgroup
    [FieldOffset(16)] public ulong CgroupId;
    [FieldOffset(24)] public uint CgroupAttachType;
    // iter
    [FieldOffset(16)] public ulong IterTargetName;
    [FieldOffset(24)] public uint IterTargetNameLen;
    [FieldOffset(28)] public uint IterMapId;
    // netns
    [FieldOffset(16)] public uint NetnsIno;
    [FieldOffset(20)] public uint NetnsAttachType;
    // xdp (also tcx and netkit: ifindex, attach_type)
    [FieldOffset(16)] public uint XdpIfIndex;
    [FieldOffset(20)] public uint IfAttachType;
    // perf_event (6.6+)
    [FieldOffset(16)] public uint PerfEventType;
    [FieldOffset(24)] public ulong PerfEventName;
    [FieldOffset(32)] public uint PerfEventNameLen;
    [FieldOffset(36)] public uint PerfEventOffset;
    [FieldOffset(40)] public ulong PerfEventAddr;
    [FieldOffset(24)] public ulong PerfEventConfig;
    [FieldOffset(32)] public uint PerfEventEventType;
    // netfilter (6.4+)
    [FieldOffset(16)] public uint NetfilterPf;
    [FieldOffset(20)] public uint NetfilterHooknum;
    [FieldOffset(24)] public int NetfilterPriority;
    // kprobe_multi (5.18+) and uprobe_multi (6.6+): count
    [FieldOffset(24)] public uint KprobeMultiCount;
    [FieldOffset(16)] public ulong UprobeMultiPath;
    [FieldOffset(48)] public uint UprobeMultiPathSize;
    [FieldOffset(52)] public uint UprobeMultiCount;
    [FieldOffset(60)] public uint UprobeMultiPid;
    // struct_ops (6.4+), sockmap (6.10+)
    [FieldOffset(16)] public uint StructOpsMapId;
    [FieldOffset(20)] public uint SockmapAttachType;
}
