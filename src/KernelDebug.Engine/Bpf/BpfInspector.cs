using System.Globalization;
using System.Text;
using KernelDebug.Native;

namespace KernelDebug.Bpf;

/// <summary>
/// Reads the kernel's eBPF objects through bpf() alone: walks the id spaces (BPF_*_GET_NEXT_ID), opens each object by
/// id into a SafeHandle and asks BPF_OBJ_GET_INFO_BY_FD, as bpftool does. Objects that vanish between the walk and the
/// open (ENOENT) are skipped.
/// </summary>
public static class BpfInspector
{
    internal enum Kind { Program, Map, Link, Btf }

    private static (int Next, int Open, string Noun) Commands(Kind kind) => kind switch
    {
        Kind.Program => (Interop.BPF_PROG_GET_NEXT_ID, Interop.BPF_PROG_GET_FD_BY_ID, "program"),
        Kind.Map => (Interop.BPF_MAP_GET_NEXT_ID, Interop.BPF_MAP_GET_FD_BY_ID, "map"),
        Kind.Link => (Interop.BPF_LINK_GET_NEXT_ID, Interop.BPF_LINK_GET_FD_BY_ID, "link"),
        _ => (Interop.BPF_BTF_GET_NEXT_ID, Interop.BPF_BTF_GET_FD_BY_ID, "BTF object"),
    };

    /// <summary>All ids of a kind, ascending.</summary>
    internal static unsafe List<uint> Ids(Kind kind)
    {
        var (next, _, noun) = Commands(kind);
        var ids = new List<uint>();
        var attr = new BpfIdAttr();
        while (true)
        {
            attr.NextId = 0;
            if (Interop.bpf(next, &attr, (uint)sizeof(BpfIdAttr)) < 0)
            {
                if (Errno.Last == Errno.ENOENT) break;
                throw new KernelDebugException(Errno.Last, $"bpf(BPF_{kind.ToString().ToUpperInvariant()}_GET_NEXT_ID)", noun) { Remedy = BpfRemedy };
            }
            ids.Add(attr.NextId);
            attr.StartId = attr.NextId;
        }
        return ids;
    }

    internal const string BpfRemedy = "Run pwsh as root, or grant CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8). Get-KernelDebugCapability Bpf explains what this host allows.";

    /// <summary>Opens an object by id; null when it no longer exists.</summary>
    internal static unsafe SafeFileDescriptor? TryOpen(Kind kind, uint id)
    {
        var (_, open, noun) = Commands(kind);
        var attr = new BpfIdAttr { StartId = id };
        long fd = Interop.bpf(open, &attr, (uint)sizeof(BpfIdAttr));
        if (fd >= 0) return new SafeFileDescriptor((int)fd);
        if (Errno.Last == Errno.ENOENT) return null;
        throw new KernelDebugException(Errno.Last, $"open BPF {noun} by id", id.ToString(CultureInfo.InvariantCulture)) { Remedy = BpfRemedy };
    }

    /// <summary>Opens an object by id; ObjectNotFound when there is none.</summary>
    internal static SafeFileDescriptor Open(Kind kind, uint id) =>
        TryOpen(kind, id) ?? throw new KernelDebugException($"There is no BPF {Commands(kind).Noun} with id {id}.",
            $"Bpf{kind}NotFound", System.Management.Automation.ErrorCategory.ObjectNotFound) { Target = id.ToString(CultureInfo.InvariantCulture) };

    /// <summary>BPF_OBJ_GET_INFO_BY_FD into an info struct (the caller may preset pointers and lengths).</summary>
    internal static unsafe void GetInfo<T>(SafeFileDescriptor fd, ref T info) where T : unmanaged
    {
        bool added = false;
        fd.DangerousAddRef(ref added);
        try
        {
            fixed (T* p = &info)
            {
                var attr = new BpfInfoAttr { BpfFd = (uint)fd.Fd, InfoLen = (uint)sizeof(T), Info = (ulong)p };
                Interop.Bpf(Interop.BPF_OBJ_GET_INFO_BY_FD, ref attr, "bpf(BPF_OBJ_GET_INFO_BY_FD)");
            }
        }
        finally { if (added) fd.DangerousRelease(); }
    }

    internal static unsafe string CString(byte* p, int max)
    {
        int n = 0;
        while (n < max && p[n] != 0) n++;
        return Encoding.UTF8.GetString(p, n);
    }

    internal static string CString(ReadOnlySpan<byte> s)
    {
        int n = s.IndexOf((byte)0);
        return Encoding.UTF8.GetString(n < 0 ? s : s[..n]);
    }

    // ---------- programs ----------

    public static IEnumerable<BpfProgram> GetPrograms(IReadOnlyCollection<uint>? ids = null, bool instructions = false)
    {
        var holders = new BpfHolders("prog_id");
        foreach (var id in ids ?? (IReadOnlyCollection<uint>)Ids(Kind.Program))
        {
            using var fd = ids is null ? TryOpen(Kind.Program, id) : Open(Kind.Program, id);
            if (fd is null) continue;
            yield return ReadProgram(fd, holders, instructions);
        }
    }

    internal static unsafe BpfProgram ReadProgram(SafeFileDescriptor fd, BpfHolders holders, bool instructions)
    {
        var info = new BpfProgInfo();
        GetInfo(fd, ref info);
        var mapIds = new uint[info.NrMapIds];
        byte[]? xlated = instructions ? new byte[info.XlatedProgLen] : null;
        if (mapIds.Length > 0 || xlated is { Length: > 0 })
        {
            // Second call with buffers for the arrays; the kernel fills at most the counts given.
            uint nMaps = info.NrMapIds, xlen = info.XlatedProgLen;
            info = new BpfProgInfo();
            fixed (uint* m = mapIds)
            fixed (byte* x = xlated)
            {
                info.NrMapIds = nMaps;
                info.MapIds = (ulong)m;
                if (xlated is not null) { info.XlatedProgLen = xlen; info.XlatedProgInsns = (ulong)x; }
                GetInfo(fd, ref info);
            }
            if (info.NrMapIds < mapIds.Length) mapIds = mapIds[..(int)info.NrMapIds];
        }
        string tag = Convert.ToHexString(new ReadOnlySpan<byte>(info.Tag, 8)).ToLowerInvariant();
        return new BpfProgram
        {
            Id = info.Id,
            Type = BpfNames.ProgramType(info.Type),
            Name = CString(info.Name, 16),
            Tag = tag,
            GplCompatible = (info.GplCompatible & 1) != 0,
            LoadTime = BootTime.ToDateTime(info.LoadTime),
            Uid = info.CreatedByUid,
            MapIds = mapIds,
            BtfId = info.BtfId,
            XlatedSize = info.XlatedProgLen,
            JitedSize = info.JitedProgLen,
            RunTimeNanoseconds = info.RunTimeNs,
            RunTime = TimeSpan.FromTicks((long)(info.RunTimeNs / 100)),
            RunCount = info.RunCnt,
            RecursionMisses = info.RecursionMisses,
            VerifiedInstructions = info.VerifiedInsns,
            Holders = holders,
            Instructions = xlated is null ? null : ItemList.Of(BpfDisassembler.Decode(xlated, KernelDebug.Symbols.Kallsyms.Current)),
        };
    }

    // ---------- maps ----------

    public static IEnumerable<BpfMap> GetMaps(IReadOnlyCollection<uint>? ids = null)
    {
        var holders = new BpfHolders("map_id");
        foreach (var id in ids ?? (IReadOnlyCollection<uint>)Ids(Kind.Map))
        {
            using var fd = ids is null ? TryOpen(Kind.Map, id) : Open(Kind.Map, id);
            if (fd is null) continue;
            yield return ToModel(ReadMapInfo(fd), holders);
        }
    }

    internal static BpfMapInfo ReadMapInfo(SafeFileDescriptor fd)
    {
        var info = new BpfMapInfo();
        GetInfo(fd, ref info);
        return info;
    }

    internal static unsafe BpfMap ToModel(BpfMapInfo info, BpfHolders holders) => new()
    {
        Id = info.Id,
        Type = BpfNames.MapType(info.Type),
        Name = CString(info.Name, 16),
        KeySize = info.KeySize,
        ValueSize = info.ValueSize,
        MaxEntries = info.MaxEntries,
        Flags = info.MapFlags,
        BtfId = info.BtfId,
        BtfKeyTypeId = info.BtfKeyTypeId,
        BtfValueTypeId = info.BtfValueTypeId,
        IsPerCpu = BpfNames.IsPerCpu(info.Type),
        Holders = holders,
    };

    // ---------- links ----------

    public static IEnumerable<BpfLink> GetLinks(IReadOnlyCollection<uint>? ids = null)
    {
        var holders = new BpfHolders("link_id");
        foreach (var id in ids ?? (IReadOnlyCollection<uint>)Ids(Kind.Link))
        {
            using var fd = ids is null ? TryOpen(Kind.Link, id) : Open(Kind.Link, id);
            if (fd is null) continue;
            yield return ReadLink(fd, holders);
        }
    }

    private static unsafe BpfLink ReadLink(SafeFileDescriptor fd, BpfHolders holders)
    {
        var info = new BpfLinkInfo();
        GetInfo(fd, ref info);
        string type = BpfNames.LinkType(info.Type);
        var name = new byte[4096];
        // Types that report a name need a buffer: ask again with one at the type's offset.
        if (info.Type is 1 or 4 or 7 or 12)
        {
            uint t = info.Type;
            info = new BpfLinkInfo();
            fixed (byte* n = name)
            {
                switch (t)
                {
                    case 1: info.RawTpName = (ulong)n; info.RawTpNameLen = (uint)name.Length; break;
                    case 4: info.IterTargetName = (ulong)n; info.IterTargetNameLen = (uint)name.Length; break;
                    case 7: info.PerfEventName = (ulong)n; info.PerfEventNameLen = (uint)name.Length; break;
                    case 12: info.UprobeMultiPath = (ulong)n; info.UprobeMultiPathSize = (uint)name.Length; break;
                }
                try { GetInfo(fd, ref info); }
                catch (KernelDebugException) when (t == 7)
                {
                    // perf_event links of kprobes/uprobes on kernels that refuse a name for some events: fall back to the head.
                    info = new BpfLinkInfo();
                    GetInfo(fd, ref info);
                    Array.Clear(name);
                }
            }
        }
        string text = CString(name);
        var details = new ItemDictionary<string, object>();
        string? attach = null, perfType = null, target = null;
        switch (info.Type)
        {
            case 1: target = text; break;
            case 2:
                attach = BpfNames.AttachType(info.TracingAttachType);
                details["TargetObjectId"] = info.TracingTargetObjId;
                details["TargetBtfId"] = info.TracingTargetBtfId;
                target = $"btf object {info.TracingTargetObjId} type {info.TracingTargetBtfId}";
                break;
            case 3:
                attach = BpfNames.AttachType(info.CgroupAttachType);
                details["CgroupId"] = info.CgroupId;
                target = $"cgroup {info.CgroupId}";
                break;
            case 4:
                target = text;
                if (text == "bpf_map_elem" || text == "bpf_sk_storage_map") { details["MapId"] = info.IterMapId; target += $" map {info.IterMapId}"; }
                break;
            case 5:
                attach = BpfNames.AttachType(info.NetnsAttachType);
                details["NetnsInode"] = info.NetnsIno;
                target = $"netns {info.NetnsIno}";
                break;
            case 6:
                details["IfIndex"] = info.XdpIfIndex;
                target = $"ifindex {info.XdpIfIndex}";
                break;
            case 7:
                perfType = info.PerfEventType == 0 ? null : BpfNames.PerfEventType(info.PerfEventType);
                switch (info.PerfEventType)
                {
                    case 1 or 2: target = info.PerfEventOffset == 0 ? text : $"{text}+0x{info.PerfEventOffset:x}"; details["Offset"] = info.PerfEventOffset; break;
                    case 3 or 4:
                        target = info.PerfEventOffset == 0 ? text : $"{text}+{info.PerfEventOffset}";
                        details["Offset"] = info.PerfEventOffset; details["Address"] = info.PerfEventAddr; break;
                    case 5: target = text; break;
                    case 6:
                        details["EventType"] = info.PerfEventEventType; details["Config"] = info.PerfEventConfig;
                        target = $"perf event type {info.PerfEventEventType} config {info.PerfEventConfig}"; break;
                }
                break;
            case 8: details["Count"] = info.KprobeMultiCount; target = $"{info.KprobeMultiCount} kernel functions"; break;
            case 9: details["MapId"] = info.StructOpsMapId; target = $"struct_ops map {info.StructOpsMapId}"; break;
            case 10:
                details["ProtocolFamily"] = info.NetfilterPf; details["Hook"] = info.NetfilterHooknum; details["Priority"] = info.NetfilterPriority;
                target = $"netfilter pf {info.NetfilterPf} hook {info.NetfilterHooknum} prio {info.NetfilterPriority}"; break;
            case 11 or 13:
                attach = BpfNames.AttachType(info.IfAttachType); details["IfIndex"] = info.XdpIfIndex;
                target = $"ifindex {info.XdpIfIndex}"; break;
            case 12:
                details["Count"] = info.UprobeMultiCount; details["ProcessId"] = info.UprobeMultiPid;
                target = $"{text} ({info.UprobeMultiCount} probes)"; break;
            case 14:
                attach = BpfNames.AttachType(info.SockmapAttachType); details["MapId"] = info.StructOpsMapId;
                target = $"sockmap {info.StructOpsMapId}"; break;
        }
        return new BpfLink
        {
            Id = info.Id,
            Type = type,
            ProgramId = info.ProgId,
            AttachType = attach,
            PerfEventType = perfType,
            Target = target,
            Details = details,
            Holders = holders,
        };
    }

    // ---------- BTF ----------

    public static IEnumerable<BpfBtf> GetBtfs(IReadOnlyCollection<uint>? ids = null)
    {
        // Which programs and maps use each BTF object (bpftool btf show prints the same).
        var progs = new Dictionary<uint, List<uint>>();
        var maps = new Dictionary<uint, List<uint>>();
        foreach (var pid in Ids(Kind.Program))
        {
            using var fd = TryOpen(Kind.Program, pid);
            if (fd is null) continue;
            var info = new BpfProgInfo();
            GetInfo(fd, ref info);
            if (info.BtfId != 0) Add(progs, info.BtfId, info.Id);
        }
        foreach (var mid in Ids(Kind.Map))
        {
            using var fd = TryOpen(Kind.Map, mid);
            if (fd is null) continue;
            var info = ReadMapInfo(fd);
            if (info.BtfId != 0) Add(maps, info.BtfId, info.Id);
        }
        var holders = new BpfHolders("btf_id");
        foreach (var id in ids ?? (IReadOnlyCollection<uint>)Ids(Kind.Btf))
        {
            using var fd = ids is null ? TryOpen(Kind.Btf, id) : Open(Kind.Btf, id);
            if (fd is null) continue;
            var (info, name, _) = ReadBtfInfo(fd, withData: false);
            yield return new BpfBtf
            {
                Id = info.Id,
                Name = name,
                Size = info.BtfSize,
                Kernel = info.KernelBtf != 0,
                ProgramIds = progs.TryGetValue(info.Id, out var pl) ? pl.ToArray() : Array.Empty<uint>(),
                MapIds = maps.TryGetValue(info.Id, out var ml) ? ml.ToArray() : Array.Empty<uint>(),
                Holders = holders,
            };
        }

        static void Add(Dictionary<uint, List<uint>> d, uint key, uint value)
        {
            if (!d.TryGetValue(key, out var l)) d[key] = l = new List<uint>();
            l.Add(value);
        }
    }

    /// <summary>BPF_OBJ_GET_INFO_BY_FD of a BTF object, with its name and (optionally) the raw BTF blob.</summary>
    internal static unsafe (BpfBtfInfo Info, string Name, byte[]? Data) ReadBtfInfo(SafeFileDescriptor fd, bool withData)
    {
        var info = new BpfBtfInfo();
        GetInfo(fd, ref info);
        var name = new byte[256];
        var data = withData ? new byte[info.BtfSize] : null;
        fixed (byte* n = name)
        fixed (byte* d = data)
        {
            uint size = info.BtfSize;
            info = new BpfBtfInfo { Name = (ulong)n, NameLen = (uint)name.Length };
            if (data is not null) { info.Btf = (ulong)d; info.BtfSize = size; }
            GetInfo(fd, ref info);
        }
        return (info, CString(name), data);
    }

    /// <summary>
    /// The parsed BTF of an object id. Program and map BTF (what Read-BpfMap decodes through) is self-contained; the split
    /// BTF of kernel modules would number its types after vmlinux's and is not what this reads.
    /// </summary>
    public static BtfSpec LoadBtf(uint id)
    {
        using var fd = Open(Kind.Btf, id);
        var (_, _, data) = ReadBtfInfo(fd, withData: true);
        var spec = BtfSpec.Parse(data!);
        return spec;
    }
}

/// <summary>Which processes hold fds of BPF objects, from /proc/&lt;pid&gt;/fdinfo (the 'prog_id:', 'map_id:', 'link_id:' lines).</summary>
internal static class FdInfoHolders
{
    private static readonly byte[] BpfInodePrefix = "anon_inode:bpf"u8.ToArray();

    public static Dictionary<uint, int[]> Scan(string key)
    {
        var found = new Dictionary<uint, SortedSet<int>>();
        string prefix = key + ":";
        Span<byte> link = stackalloc byte[64];
        foreach (var entry in Interop.ListDirectory("/proc") ?? new List<string>())
        {
            if (!int.TryParse(entry, out int pid)) continue;
            string dir = "/proc/" + entry;
            var fds = Interop.ListDirectory(dir + "/fd");
            if (fds is null) continue;
            foreach (var fdName in fds)
            {
                // readlink straight into a stack buffer: thousands of fds are checked per call, few are BPF objects.
                if (!Interop.ReadLink($"{dir}/fd/{fdName}", link).StartsWith(BpfInodePrefix)) continue;
                try
                {
                    foreach (var line in File.ReadLines($"{dir}/fdinfo/{fdName}"))
                    {
                        if (!line.StartsWith(prefix, StringComparison.Ordinal)) continue;
                        if (uint.TryParse(line.AsSpan(prefix.Length).Trim(), out var id))
                        {
                            if (!found.TryGetValue(id, out var set)) found[id] = set = new SortedSet<int>();
                            set.Add(pid);
                        }
                        break;
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            }
        }
        return found.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());
    }
}

/// <summary>Turns the kernel's boot-relative nanoseconds into wall-clock time, as bpftool does (REALTIME - BOOTTIME).</summary>
internal static class BootTime
{
    public static DateTime ToDateTime(ulong bootNanoseconds)
    {
        long real = Interop.ClockNanoseconds(Interop.CLOCK_REALTIME);
        long boot = Interop.ClockNanoseconds(Interop.CLOCK_BOOTTIME);
        long unixNs = real - boot + (long)bootNanoseconds;
        return DateTime.UnixEpoch.AddTicks(unixNs / 100).ToLocalTime();
    }
}
