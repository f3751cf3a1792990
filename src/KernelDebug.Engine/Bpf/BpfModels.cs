namespace KernelDebug;

/// <summary>One loaded eBPF program, as BPF_OBJ_GET_INFO_BY_FD reports it (the fields of bpftool prog show).</summary>
public sealed class BpfProgram
{
    public uint Id { get; init; }
    /// <summary>The program type as bpftool names it (tracepoint, kprobe, socket_filter…).</summary>
    public string Type { get; init; } = "";
    public string Name { get; init; } = "";
    /// <summary>The 8-byte program tag, in hex, as bpftool prints it.</summary>
    public string Tag { get; init; } = "";
    public bool GplCompatible { get; init; }
    /// <summary>When the program was loaded (local time; the kernel reports nanoseconds since boot).</summary>
    public DateTime LoadTime { get; init; }
    public uint Uid { get; init; }
    public ItemList<uint> MapIds { get; init; } = ItemList<uint>.Empty;
    /// <summary>The BTF object of the program (0 when it has none).</summary>
    public uint BtfId { get; init; }
    public uint XlatedSize { get; init; }
    /// <summary>Bytes of JIT-compiled code (0 when the program is interpreted).</summary>
    public uint JitedSize { get; init; }
    /// <summary>Total run time; zero unless run statistics are on (sysctl kernel.bpf_stats_enabled=1).</summary>
    public TimeSpan RunTime { get; init; }
    public ulong RunTimeNanoseconds { get; init; }
    public ulong RunCount { get; init; }
    public ulong RecursionMisses { get; init; }
    public uint VerifiedInstructions { get; init; }
    /// <summary>Processes holding an fd of the program (from /proc/*/fdinfo prog_id); read on first access, once per cmdlet call.</summary>
    public ItemList<int> ProcessIds => Holders.Of(Id);
    internal BpfHolders Holders { get; init; } = BpfHolders.None;
    /// <summary>The translated program (with -Instructions), decoded as bpftool prog dump xlated prints it.</summary>
    public ItemList<BpfInstruction>? Instructions { get; init; }

    public override string ToString() => $"{Id}: {Type} {Name}";
}

/// <summary>One instruction of a translated program.</summary>
public sealed class BpfInstruction
{
    public int Index { get; init; }
    public byte Opcode { get; init; }
    /// <summary>The instruction as the kernel's disassembler prints it, e.g. "(b7) r0 = 0".</summary>
    public string Text { get; init; } = "";
    /// <summary>The raw 8 bytes (16 for a 64-bit immediate load).</summary>
    public byte[] Bytes { get; init; } = Array.Empty<byte>();

    public override string ToString() => $"{Index,4}: {Text}";
}

/// <summary>One eBPF map (the fields of bpftool map show).</summary>
public sealed class BpfMap
{
    public uint Id { get; init; }
    /// <summary>The map type as bpftool names it (hash, array, percpu_hash, ringbuf…).</summary>
    public string Type { get; init; } = "";
    public string Name { get; init; } = "";
    public uint KeySize { get; init; }
    public uint ValueSize { get; init; }
    public uint MaxEntries { get; init; }
    /// <summary>map_flags (BPF_F_NO_PREALLOC = 0x1, BPF_F_RDONLY_PROG = 0x80, BPF_F_MMAPABLE = 0x400…).</summary>
    public uint Flags { get; init; }
    public uint BtfId { get; init; }
    public uint BtfKeyTypeId { get; init; }
    public uint BtfValueTypeId { get; init; }
    public bool IsPerCpu { get; init; }
    /// <summary>Processes holding an fd of the map (/proc/*/fdinfo map_id); read on first access, once per cmdlet call.</summary>
    public ItemList<int> ProcessIds => Holders.Of(Id);
    internal BpfHolders Holders { get; init; } = BpfHolders.None;

    public override string ToString() => $"{Id}: {Type} {Name}";
}

/// <summary>One BPF link: a program attached to a hook, with what it attaches to.</summary>
public sealed class BpfLink
{
    public uint Id { get; init; }
    /// <summary>raw_tracepoint, tracing, cgroup, iter, netns, xdp, perf_event, kprobe_multi, struct_ops, netfilter, tcx, uprobe_multi, netkit, sockmap.</summary>
    public string Type { get; init; } = "";
    public uint ProgramId { get; init; }
    /// <summary>The attach type where the link has one (trace_fentry, cgroup_inet_ingress…).</summary>
    public string? AttachType { get; init; }
    /// <summary>For perf_event links (kernel 6.6+): tracepoint, kprobe, kretprobe, uprobe, uretprobe or event.</summary>
    public string? PerfEventType { get; init; }
    /// <summary>What the link attaches to: a tracepoint, function, file, cgroup id, interface index, map id…</summary>
    public string? Target { get; init; }
    /// <summary>The type-specific numbers (cgroup id, BTF object and type ids, ifindex, offset, address, map id…).</summary>
    public IReadOnlyDictionary<string, object> Details { get; init; } = new ItemDictionary<string, object>();
    /// <summary>Processes holding an fd of the link (/proc/*/fdinfo link_id); read on first access, once per cmdlet call.</summary>
    public ItemList<int> ProcessIds => Holders.Of(Id);
    internal BpfHolders Holders { get; init; } = BpfHolders.None;

    public override string ToString() => $"{Id}: {Type} prog {ProgramId} {Target}";
}

/// <summary>One BTF object loaded in the kernel (vmlinux, module BTF, or a program's).</summary>
public sealed class BpfBtf
{
    public uint Id { get; init; }
    public string Name { get; init; } = "";
    public uint Size { get; init; }
    /// <summary>True for the kernel's and modules' BTF.</summary>
    public bool Kernel { get; init; }
    public ItemList<uint> ProgramIds { get; init; } = ItemList<uint>.Empty;
    public ItemList<uint> MapIds { get; init; } = ItemList<uint>.Empty;
    /// <summary>Processes holding an fd of the BTF object (/proc/*/fdinfo btf_id); read on first access.</summary>
    public ItemList<int> ProcessIds => Holders.Of(Id);
    internal BpfHolders Holders { get; init; } = BpfHolders.None;

    public override string ToString() => $"{Id}: {Name} {Size}B";
}

/// <summary>One entry of an eBPF map: key and value decoded through the map's BTF where present, else bytes.</summary>
public sealed class BpfMapEntry
{
    public uint MapId { get; init; }
    public string MapName { get; init; } = "";
    public object? Key { get; init; }
    /// <summary>The value; for per-CPU maps, null (see CpuValues).</summary>
    public object? Value { get; init; }
    /// <summary>For per-CPU maps: one value per possible CPU, indexed by CPU number.</summary>
    public ItemList<object?>? CpuValues { get; init; }
    public ItemList<byte> KeyBytes { get; init; } = ItemList<byte>.Empty;
    public ItemList<byte> ValueBytes { get; init; } = ItemList<byte>.Empty;

    public override string ToString() => $"{Key} = {Value ?? (CpuValues is null ? null : string.Join(", ", CpuValues))}";
}

/// <summary>The holders of one kind of BPF object, scanned from /proc once, when first asked for.</summary>
internal sealed class BpfHolders
{
    public static readonly BpfHolders None = new(null);
    private readonly Lazy<Dictionary<uint, int[]>>? _scan;

    public BpfHolders(string? fdinfoKey) =>
        _scan = fdinfoKey is null ? null : new Lazy<Dictionary<uint, int[]>>(() => KernelDebug.Bpf.FdInfoHolders.Scan(fdinfoKey));

    public int[] Of(uint id) => _scan is not null && _scan.Value.TryGetValue(id, out var p) ? p : Array.Empty<int>();
}
