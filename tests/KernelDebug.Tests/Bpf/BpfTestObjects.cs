using System.Buffers.Binary;
using System.Text;
using KernelDebug.Bpf;
using KernelDebug.Native;

namespace KernelDebug.Tests.Bpf;

/// <summary>
/// Loads the test's own eBPF objects through bpf(): hand-assembled programs, maps (one with BTF the test encodes itself),
/// and links (a tracepoint program attached through perf_event_open + BPF_LINK_CREATE, a raw tracepoint). Holds every fd
/// while the tests compare; Dispose closes them all, which unloads everything.
/// </summary>
internal sealed class BpfTestObjects : IDisposable
{
    private readonly List<SafeFileDescriptor> _fds = new();
    private readonly List<Action> _afterClose = new();

    public SafeFileDescriptor Keep(SafeFileDescriptor fd) { _fds.Add(fd); return fd; }

    public void Dispose()
    {
        for (int i = _fds.Count - 1; i >= 0; i--) _fds[i].Dispose();
        _fds.Clear();
        foreach (var a in _afterClose) a();
        _afterClose.Clear();
    }

    /// <summary>
    /// A cgroup_skb program (r0 = 1: let every packet pass) linked to ingress of a private, empty child cgroup that
    /// the test makes and removes again; returns the link fd and the cgroup's id (its inode number).
    /// </summary>
    public (SafeFileDescriptor Link, ulong CgroupId, SafeFileDescriptor Program) AttachToPrivateCgroup()
    {
        var root = KernelDebug.Host.MountTable.Find("cgroup2") ?? throw new InvalidOperationException("cgroup2 is not mounted");
        var dir = Path.Combine(root, $"{KernelDebug.Host.Naming.Prefix}_{Environment.ProcessId}_bpftest");
        Directory.CreateDirectory(dir);
        _afterClose.Add(() => Directory.Delete(dir));
        var cgroup = Keep(Interop.Open(dir, Interop.O_RDONLY | Interop.O_DIRECTORY));
        var prog = LoadProgram(8 /* cgroup_skb */, "kd_cgskb", Concat(Insn(0xb7, imm: 1), Insn(0x95)), expectedAttachType: 0 /* cgroup_inet_ingress */);
        var attr = new BpfLinkCreateAttr { ProgFd = (uint)prog.Fd, TargetFd = (uint)cgroup.Fd, AttachType = 0 };
        var link = Keep(Interop.BpfFd(Interop.BPF_LINK_CREATE, ref attr, "BPF_LINK_CREATE", dir));
        // On cgroup2 a cgroup's id is the inode number of its directory: asked of stat(1), an independent witness.
        var st = KernelDebug.Host.ProgramLocator.Run("stat", new[] { "-c", "%i", dir }, TimeSpan.FromSeconds(10))!.Value;
        return (link, ulong.Parse(st.StdOut.Trim()), prog);
    }

    // ---------- instructions ----------

    public static byte[] Insn(byte code, int dst = 0, int src = 0, short off = 0, int imm = 0)
    {
        var b = new byte[8];
        b[0] = code;
        b[1] = (byte)((src << 4) | dst);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(2), off);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(4), imm);
        return b;
    }

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    /// <summary>r0 = 0; exit</summary>
    public static byte[] ReturnZero => Concat(Insn(0xb7), Insn(0x95));

    /// <summary>Counts its runs in slot 0 of an array map: lookup, then an atomic add of 1.</summary>
    public static byte[] CountInto(int mapFd) => Concat(
        Insn(0x62, dst: 10, off: -4, imm: 0),          // *(u32 *)(r10 -4) = 0
        Insn(0xbf, dst: 2, src: 10),                   // r2 = r10
        Insn(0x07, dst: 2, imm: -4),                   // r2 += -4
        Insn(0x18, dst: 1, src: 1, imm: mapFd), Insn(0), // r1 = map (BPF_PSEUDO_MAP_FD)
        Insn(0x85, imm: 1),                            // call bpf_map_lookup_elem
        Insn(0x15, dst: 0, off: 2, imm: 0),            // if r0 == 0x0 goto pc+2
        Insn(0xb7, dst: 1, imm: 1),                    // r1 = 1
        Insn(0xdb, dst: 0, src: 1, off: 0, imm: 0),    // lock *(u64 *)(r0 +0) += r1
        Insn(0xb7, dst: 0, imm: 0),                    // r0 = 0
        Insn(0x95));                                   // exit

    // ---------- loading ----------

    public unsafe SafeFileDescriptor LoadProgram(uint type, string name, byte[] insns, uint expectedAttachType = 0)
    {
        var log = new byte[65536];
        var license = Encoding.ASCII.GetBytes("GPL\0");
        fixed (byte* i = insns)
        fixed (byte* l = license)
        fixed (byte* lg = log)
        {
            var attr = new BpfProgLoadAttr
            {
                ProgType = type, InsnCnt = (uint)(insns.Length / 8), Insns = (ulong)i, License = (ulong)l,
                LogLevel = 1, LogSize = (uint)log.Length, LogBuf = (ulong)lg, ExpectedAttachType = expectedAttachType,
            };
            SetName(attr.ProgName, name);
            long fd = Interop.bpf(Interop.BPF_PROG_LOAD, &attr, (uint)sizeof(BpfProgLoadAttr));
            if (fd < 0)
                throw new InvalidOperationException($"BPF_PROG_LOAD {name}: {Errno.Name(Errno.Last)}\n{BpfInspector.CString(log)}");
            return Keep(new SafeFileDescriptor((int)fd));
        }
    }

    public unsafe SafeFileDescriptor CreateMap(uint type, string name, uint keySize, uint valueSize, uint maxEntries,
        SafeFileDescriptor? btf = null, uint keyTypeId = 0, uint valueTypeId = 0)
    {
        var attr = new BpfMapCreateAttr
        {
            MapType = type, KeySize = keySize, ValueSize = valueSize, MaxEntries = maxEntries,
            BtfFd = btf is null ? 0u : (uint)btf.Fd, BtfKeyTypeId = keyTypeId, BtfValueTypeId = valueTypeId,
        };
        SetName(attr.MapName, name);
        return Keep(Interop.BpfFd(Interop.BPF_MAP_CREATE, ref attr, "BPF_MAP_CREATE", name));
    }

    public static unsafe void Update(SafeFileDescriptor map, byte[] key, byte[] value)
    {
        fixed (byte* k = key)
        fixed (byte* v = value)
        {
            var attr = new BpfMapElemAttr { MapFd = (uint)map.Fd, Key = (ulong)k, ValueOrNextKey = (ulong)v };
            Interop.Bpf(Interop.BPF_MAP_UPDATE_ELEM, ref attr, "BPF_MAP_UPDATE_ELEM");
        }
    }

    public unsafe SafeFileDescriptor LoadBtf(byte[] blob)
    {
        var log = new byte[65536];
        fixed (byte* b = blob)
        fixed (byte* lg = log)
        {
            var attr = new BpfBtfLoadAttr { Btf = (ulong)b, BtfSize = (uint)blob.Length, BtfLogBuf = (ulong)lg, BtfLogSize = (uint)log.Length, BtfLogLevel = 1 };
            long fd = Interop.bpf(Interop.BPF_BTF_LOAD, &attr, (uint)sizeof(BpfBtfLoadAttr));
            if (fd < 0) throw new InvalidOperationException($"BPF_BTF_LOAD: {Errno.Name(Errno.Last)}\n{BpfInspector.CString(log)}");
            return Keep(new SafeFileDescriptor((int)fd));
        }
    }

    /// <summary>perf_event_open of a tracepoint, then BPF_LINK_CREATE (attach type perf_event) of the program to it.</summary>
    public SafeFileDescriptor AttachToTracepoint(SafeFileDescriptor prog, string system, string ev)
    {
        var tracefs = KernelDebug.Host.KernelFileSystems.GetTraceFs();
        ulong id = ulong.Parse(File.ReadAllText(Path.Combine(tracefs, "events", system, ev, "id")).Trim());
        var attr = new PerfEventAttr { Type = (uint)PerfTypeId.Tracepoint, Config = id, SamplePeriodOrFreq = 1 };
        var perf = Keep(Interop.PerfEventOpen(ref attr, -1, 0, -1, $"{system}:{ev}"));
        var link = new BpfLinkCreateAttr { ProgFd = (uint)prog.Fd, TargetFd = (uint)perf.Fd, AttachType = (uint)Array.IndexOf(BpfNames.AttachTypes, "perf_event") };
        return Keep(Interop.BpfFd(Interop.BPF_LINK_CREATE, ref link, "BPF_LINK_CREATE", ev));
    }

    /// <summary>
    /// perf_event_open of a uprobe (the uprobe PMU: config1 the path, config2 the file offset) limited to this process,
    /// then BPF_LINK_CREATE of a kprobe-type program to it.
    /// </summary>
    public unsafe SafeFileDescriptor AttachUprobe(SafeFileDescriptor prog, string path, ulong offset)
    {
        uint pmu = uint.Parse(File.ReadAllText("/sys/bus/event_source/devices/uprobe/type").Trim());
        var name = Encoding.UTF8.GetBytes(path + "\0");
        SafeFileDescriptor perf;
        fixed (byte* n = name)
        {
            var attr = new PerfEventAttr { Type = pmu, Config1 = (ulong)n, Config2 = offset, SamplePeriodOrFreq = 1 };
            perf = Keep(Interop.PerfEventOpen(ref attr, Environment.ProcessId, -1, -1, $"uprobe {path}+0x{offset:x}"));
        }
        var link = new BpfLinkCreateAttr { ProgFd = (uint)prog.Fd, TargetFd = (uint)perf.Fd, AttachType = (uint)Array.IndexOf(BpfNames.AttachTypes, "perf_event") };
        return Keep(Interop.BpfFd(Interop.BPF_LINK_CREATE, ref link, "BPF_LINK_CREATE", path));
    }

    public unsafe SafeFileDescriptor AttachRawTracepoint(SafeFileDescriptor prog, string name)
    {
        var n = Encoding.ASCII.GetBytes(name + "\0");
        fixed (byte* p = n)
        {
            var attr = new BpfRawTracepointAttr { Name = (ulong)p, ProgFd = (uint)prog.Fd };
            return Keep(Interop.BpfFd(Interop.BPF_RAW_TRACEPOINT_OPEN, ref attr, "BPF_RAW_TRACEPOINT_OPEN", name));
        }
    }

    /// <summary>BPF_ENABLE_STATS (BPF_STATS_RUN_TIME): run time and count are kept while the returned fd is open.</summary>
    public unsafe SafeFileDescriptor EnableRunStats()
    {
        uint type = 0;
        long fd = Interop.bpf(32 /* BPF_ENABLE_STATS */, &type, sizeof(uint));
        if (fd < 0) throw new InvalidOperationException($"BPF_ENABLE_STATS: {Errno.Name(Errno.Last)}");
        return Keep(new SafeFileDescriptor((int)fd));
    }

    public static uint IdOf<T>(SafeFileDescriptor fd) where T : unmanaged
    {
        var info = new T();
        BpfInspector.GetInfo(fd, ref info);
        return MemoryMarshal_Id(ref info);
    }

    // Every bpf_*_info struct used here except bpf_btf_info has the id at offset 4; bpf_btf_info has it at 12.
    private static unsafe uint MemoryMarshal_Id<T>(ref T info) where T : unmanaged
    {
        fixed (T* p = &info) return typeof(T) == typeof(BpfBtfInfo) ? ((BpfBtfInfo*)p)->Id : ((uint*)p)[1];
    }

    private static unsafe void SetName(byte* dest, string name)
    {
        var b = Encoding.ASCII.GetBytes(name);
        for (int i = 0; i < Math.Min(15, b.Length); i++) dest[i] = b[i];
    }

    // ---------- BTF ----------

    /// <summary>
    /// A BTF blob with: [1] unsigned int, [2] long long, [3] char, [4] int, [5] char[8], [6] struct kd_value
    /// { long long count; char name[8]; unsigned int flags; } (24 bytes), [7] enum kd_state { KD_IDLE = 0, KD_BUSY = 2 },
    /// [8] struct kd_bits { unsigned int low:3; unsigned int high:5; kd_state state; }, [9] struct kd_key { unsigned int pid;
    /// char comm[8]; } (12 bytes), [10] unsigned int[3], [11] typedef enum kd_state kd_state_t, [12] struct kd_nested
    /// { struct kd_value inner; unsigned int hist[3]; kd_state_t state; } (40 bytes).
    /// </summary>
    public static byte[] EncodeTestBtf()
    {
        var strings = new MemoryStream();
        var offsets = new Dictionary<string, uint>();
        uint Str(string s)
        {
            if (offsets.TryGetValue(s, out var o)) return o;
            o = (uint)strings.Length;
            strings.Write(Encoding.ASCII.GetBytes(s + "\0"));
            return offsets[s] = o;
        }
        Str("");
        var types = new MemoryStream();
        void U32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); types.Write(b); }
        void Type(string name, uint kind, uint vlen, uint sizeOrType, bool kflag = false) { U32(Str(name)); U32((kind << 24) | vlen | (kflag ? 1u << 31 : 0)); U32(sizeOrType); }
        Type("unsigned int", 1, 0, 4); U32(32);                      // 1
        Type("long long", 1, 0, 8); U32((1u << 24) | 64);            // 2
        Type("char", 1, 0, 1); U32((1u << 24) | 8);                  // 3
        Type("int", 1, 0, 4); U32((1u << 24) | 32);                  // 4
        Type("", 3, 0, 0); U32(3); U32(4); U32(8);                   // 5 char[8]
        Type("kd_value", 4, 3, 24);                                  // 6
        U32(Str("count")); U32(2); U32(0);
        U32(Str("name")); U32(5); U32(64);
        U32(Str("flags")); U32(1); U32(128);
        Type("kd_state", 6, 2, 4);                                   // 7
        U32(Str("KD_IDLE")); U32(0);
        U32(Str("KD_BUSY")); U32(2);
        Type("kd_bits", 4, 3, 8, kflag: true);                       // 8
        U32(Str("low")); U32(1); U32((3u << 24) | 0);
        U32(Str("high")); U32(1); U32((5u << 24) | 3);
        U32(Str("state")); U32(7); U32(32);
        Type("kd_key", 4, 2, 12);                                    // 9
        U32(Str("pid")); U32(1); U32(0);
        U32(Str("comm")); U32(5); U32(32);
        Type("", 3, 0, 0); U32(1); U32(1); U32(3);                   // 10 unsigned int[3]
        Type("kd_state_t", 8, 0, 7);                                 // 11 typedef enum kd_state kd_state_t
        Type("kd_nested", 4, 3, 40);                                 // 12
        U32(Str("inner")); U32(6); U32(0);
        U32(Str("hist")); U32(10); U32(192);
        U32(Str("state")); U32(11); U32(288);

        var t = types.ToArray();
        var s = strings.ToArray();
        var blob = new byte[24 + t.Length + s.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(blob, BtfSpec.Magic);
        blob[2] = 1;
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(4), 24);
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(8), 0);
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(12), (uint)t.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(16), (uint)t.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(20), (uint)s.Length);
        t.CopyTo(blob, 24);
        s.CopyTo(blob, 24 + t.Length);
        return blob;
    }

    public static byte[] KdValue(long count, string name, uint flags)
    {
        var v = new byte[24];
        BinaryPrimitives.WriteInt64LittleEndian(v, count);
        Encoding.ASCII.GetBytes(name).CopyTo(v, 8);
        BinaryPrimitives.WriteUInt32LittleEndian(v.AsSpan(16), flags);
        return v;
    }

    public static byte[] KdKey(uint pid, string comm)
    {
        var k = new byte[12];
        BinaryPrimitives.WriteUInt32LittleEndian(k, pid);
        Encoding.ASCII.GetBytes(comm).CopyTo(k, 4);
        return k;
    }

    public static byte[] KdNested(long count, string name, uint flags, uint[] hist, uint state)
    {
        var v = new byte[40];
        KdValue(count, name, flags).CopyTo(v, 0);
        for (int i = 0; i < 3; i++) BinaryPrimitives.WriteUInt32LittleEndian(v.AsSpan(24 + 4 * i), hist[i]);
        BinaryPrimitives.WriteUInt32LittleEndian(v.AsSpan(36), state);
        return v;
    }

    public static byte[] U32Bytes(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return b; }
    public static byte[] U64Bytes(ulong v) { var b = new byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); return b; }
}
