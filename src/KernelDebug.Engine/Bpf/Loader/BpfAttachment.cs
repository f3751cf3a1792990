using System.Globalization;
using System.Management.Automation;
using System.Text;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Bpf;

/// <summary>Where and how to attach when the section name does not say it all.</summary>
public sealed class BpfAttachOptions
{
    /// <summary>Overrides the section's target: category/name, a raw tracepoint, a kernel function, or path:symbol[+offset].</summary>
    public string? Target { get; init; }
    /// <summary>uprobes: only this process (default: every process).</summary>
    public int ProcessId { get; init; } = -1;
    /// <summary>perf_event programs: samples per second on each CPU (cpu-clock).</summary>
    public ulong Frequency { get; init; } = 99;
}

/// <summary>One attachment of a program: a bpf link, or perf events with the program set on them. Dispose detaches.</summary>
public sealed class BpfAttachment : IDisposable
{
    private readonly List<SafeFileDescriptor> _fds = new();
    private readonly BpfObjectProgram? _program;

    internal BpfAttachment(BpfObjectProgram program, string target, string mechanism)
    {
        _program = program;
        ProgramName = program.Name;
        ObjectName = program.ObjectName;
        Kind = program.AttachKind;
        Target = target;
        Mechanism = mechanism;
    }

    public string ObjectName { get; }
    public string ProgramName { get; }
    public BpfAttachKind Kind { get; }
    public string Target { get; }
    /// <summary>bpf_link (BPF_LINK_CREATE or BPF_RAW_TRACEPOINT_OPEN), or perf_event_ioctl (PERF_EVENT_IOC_SET_BPF on older kernels).</summary>
    public string Mechanism { get; private set; }
    public ItemList<uint> LinkIds => new(_linkIds.ToArray());
    private readonly List<uint> _linkIds = new();
    internal void AddLink(uint id) => _linkIds.Add(id);
    public bool IsAttached { get; private set; } = true;

    internal void Add(SafeFileDescriptor fd) => _fds.Add(fd);
    internal void SetMechanism(string m) => Mechanism = m;

    public void Dispose()
    {
        if (!IsAttached) return;
        IsAttached = false;
        for (int i = _fds.Count - 1; i >= 0; i--) _fds[i].Dispose();
        _fds.Clear();
        _program?.Attachments.Remove(this);
    }

    public override string ToString() => $"{ProgramName} -> {Target}";
}

/// <summary>Attaches programs the way their section says: perf events plus bpf links, raw tracepoints, uprobes, kprobes.</summary>
public static class BpfAttacher
{
    private const uint AttachPerfEvent = 41; // BPF_PERF_EVENT

    public static BpfAttachment Attach(BpfObjectProgram program, BpfAttachOptions? options = null)
    {
        options ??= new BpfAttachOptions();
        if (program.Object.IsDisposed) throw new KernelDebugException($"Object '{program.ObjectName}' was removed.", "BpfObjectRemoved", ErrorCategory.InvalidOperation) { Target = program.Name };
        string target = options.Target ?? program.AttachTarget;
        if (target.Length == 0 && program.AttachKind is not (BpfAttachKind.PerfEvent or BpfAttachKind.TracepointBtf or BpfAttachKind.Fentry or BpfAttachKind.Fexit))
            throw new KernelDebugException($"Program '{program.Name}' (section '{program.SectionName}') does not say where to attach; give -Target.", "BpfAttachTargetMissing", ErrorCategory.InvalidArgument) { Target = program.Name };
        var a = new BpfAttachment(program, target, "bpf_link");
        try
        {
            switch (program.AttachKind)
            {
                case BpfAttachKind.Tracepoint: AttachTracepoint(program, a, target); break;
                case BpfAttachKind.RawTracepoint: RawTracepointOpen(program, a, target); break;
                case BpfAttachKind.TracepointBtf or BpfAttachKind.Fentry or BpfAttachKind.Fexit: RawTracepointOpen(program, a, null); break;
                case BpfAttachKind.Uprobe or BpfAttachKind.Uretprobe: AttachUprobe(program, a, target, options); break;
                case BpfAttachKind.Kprobe or BpfAttachKind.Kretprobe: AttachKprobe(program, a, target); break;
                case BpfAttachKind.PerfEvent: AttachPerfEvents(program, a, options); break;
                default: throw new KernelDebugException($"Program '{program.Name}' has no attach type.", "BpfAttachNotSupported", ErrorCategory.NotImplemented) { Target = program.Name };
            }
        }
        catch
        {
            a.Dispose();
            throw;
        }
        program.Attachments.Add(a);
        return a;
    }

    private static void AttachTracepoint(BpfObjectProgram p, BpfAttachment a, string target)
    {
        var parts = target.Split('/', ':');
        if (parts.Length != 2 || parts.Any(x => x.Length == 0 || x.Contains("..") || x.Any(char.IsControl)))
            throw new KernelDebugException($"'{target}' is not a tracepoint name (category/name).", "BpfTracepointInvalid", ErrorCategory.InvalidArgument) { Target = target };
        string idPath = System.IO.Path.Combine(KernelFileSystems.GetTraceFs(), "events", parts[0], parts[1], "id");
        var text = ControlFile.TryReadText(idPath, out int errno);
        if (text is null || !ulong.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var id))
            throw new KernelDebugException($"The tracepoint {parts[0]}:{parts[1]} does not exist on this kernel ({Errno.Name(errno)} reading {idPath}). Get-TraceEvent lists those there are.",
                "BpfTracepointNotFound", ErrorCategory.ObjectNotFound) { Target = target };
        var attr = new PerfEventAttr { Type = (uint)PerfTypeId.Tracepoint, Config = id, SamplePeriodOrFreq = 1, WakeupEventsOrWatermark = 1 };
        var pfd = Interop.PerfEventOpen(ref attr, -1, 0, -1, $"tracepoint {target}");
        a.Add(pfd);
        LinkOrIoctl(p, a, pfd);
    }

    // A bpf link on a perf event (5.15+), else the program set on it by ioctl.
    private static unsafe void LinkOrIoctl(BpfObjectProgram p, BpfAttachment a, SafeFileDescriptor pfd)
    {
        var attr = new BpfLinkCreateAttr { ProgFd = (uint)p.Fd.Fd, TargetFd = (uint)pfd.Fd, AttachType = AttachPerfEvent };
        long fd = Interop.bpf(Interop.BPF_LINK_CREATE, &attr, (uint)sizeof(BpfLinkCreateAttr));
        if (fd >= 0)
        {
            var link = new SafeFileDescriptor((int)fd);
            a.Add(link);
            a.AddLink(LinkId(link));
            return;
        }
        int err = Errno.Last;
        if (err is not (Errno.EINVAL or Errno.EOPNOTSUPP or Errno.ENOTSUPP or Errno.EBADF))
            throw new KernelDebugException(err, "bpf(BPF_LINK_CREATE)", p.Name) { Remedy = BpfInspector.BpfRemedy };
        Interop.Check(Interop.ioctl(pfd, Interop.PERF_EVENT_IOC_SET_BPF, p.Fd.Fd), "ioctl PERF_EVENT_IOC_SET_BPF", p.Name);
        Interop.Check(Interop.ioctl(pfd, Interop.PERF_EVENT_IOC_ENABLE, 0), "ioctl PERF_EVENT_IOC_ENABLE", p.Name);
        a.SetMechanism("perf_event_ioctl");
    }

    private static uint LinkId(SafeFileDescriptor link)
    {
        var info = new BpfLinkInfo();
        BpfInspector.GetInfo(link, ref info);
        return info.Id;
    }

    private static unsafe void RawTracepointOpen(BpfObjectProgram p, BpfAttachment a, string? name)
    {
        if (name is not null && (name.Length == 0 || name.Any(char.IsControl)))
            throw new KernelDebugException($"'{name}' is not a raw tracepoint name.", "BpfTracepointInvalid", ErrorCategory.InvalidArgument) { Target = name };
        var bytes = name is null ? null : Encoding.ASCII.GetBytes(name + "\0");
        fixed (byte* n = bytes)
        {
            var attr = new BpfRawTracepointAttr { Name = (ulong)n, ProgFd = (uint)p.Fd.Fd };
            long fd = Interop.bpf(Interop.BPF_RAW_TRACEPOINT_OPEN, &attr, (uint)sizeof(BpfRawTracepointAttr));
            if (fd < 0)
            {
                int err = Errno.Last;
                if (err == Errno.ENOENT && name is not null)
                    throw new KernelDebugException($"The raw tracepoint '{name}' does not exist on this kernel.", "BpfTracepointNotFound", ErrorCategory.ObjectNotFound) { Target = name };
                if (err is Errno.ENOTSUPP or Errno.EOPNOTSUPP or Errno.ENODEV && p.AttachKind is BpfAttachKind.Fentry or BpfAttachKind.Fexit)
                    throw new KernelDebugException($"The kernel cannot attach fentry/fexit program '{p.Name}' ({Errno.Name(err)}): it needs BPF trampolines (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS) and the function tracer.",
                        "BpfTrampolineNotSupported", ErrorCategory.NotImplemented) { Target = p.Name };
                throw new KernelDebugException(err, "bpf(BPF_RAW_TRACEPOINT_OPEN)", name ?? p.Name) { Remedy = BpfInspector.BpfRemedy };
            }
            var link = new SafeFileDescriptor((int)fd);
            a.Add(link);
            a.AddLink(LinkId(link));
        }
    }

    private static (uint Type, int RetBit) Pmu(string name, string what)
    {
        string dir = System.IO.Path.Combine("/sys/bus/event_source/devices", name);
        var type = ControlFile.TryReadText(System.IO.Path.Combine(dir, "type"), out _);
        if (type is null || !uint.TryParse(type.Trim(), out var t))
            throw new KernelDebugException($"This kernel has no {name} PMU ({dir}), so {what} cannot be attached through perf_event_open.", "BpfProbePmuMissing", ErrorCategory.NotImplemented) { Target = name };
        int bit = 0;
        var fmt = ControlFile.TryReadText(System.IO.Path.Combine(dir, "format", "retprobe"), out _)?.Trim();
        if (fmt is not null && fmt.StartsWith("config:", StringComparison.Ordinal) && int.TryParse(fmt.AsSpan(7), out var b)) bit = b;
        return (t, bit);
    }

    private static unsafe void AttachUprobe(BpfObjectProgram p, BpfAttachment a, string target, BpfAttachOptions options)
    {
        // path:symbol[+offset] or path:0xoffset, as libbpf's uprobe/ sections.
        int colon = target.LastIndexOf(':');
        if (colon <= 0) throw new KernelDebugException($"'{target}' is not a uprobe target (path:symbol[+offset]).", "BpfUprobeTargetInvalid", ErrorCategory.InvalidArgument) { Target = target };
        string path = target[..colon], what = target[(colon + 1)..];
        ulong fileOffset;
        if (what.StartsWith("0x", StringComparison.Ordinal) && ulong.TryParse(what.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var raw)) fileOffset = raw;
        else
        {
            ulong plus = 0;
            int at = what.IndexOf('+');
            if (at > 0)
            {
                var o = what[(at + 1)..];
                if (!(o.StartsWith("0x", StringComparison.Ordinal) ? ulong.TryParse(o.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out plus) : ulong.TryParse(o, out plus)))
                    throw new KernelDebugException($"'{o}' is not an offset.", "BpfUprobeTargetInvalid", ErrorCategory.InvalidArgument) { Target = target };
                what = what[..at];
            }
            var resolver = KernelDebug.Symbols.ElfFile.Open(path);
            fileOffset = resolver.ResolveFileOffset(what, plus);
        }
        var (type, retBit) = Pmu("uprobe", "uprobes");
        var pathBytes = Encoding.UTF8.GetBytes(System.IO.Path.GetFullPath(path) + "\0");
        fixed (byte* pp = pathBytes)
        {
            var attr = new PerfEventAttr
            {
                Type = type, Config = p.AttachKind == BpfAttachKind.Uretprobe ? 1UL << retBit : 0, Config1 = (ulong)pp, Config2 = fileOffset,
                SamplePeriodOrFreq = 1, WakeupEventsOrWatermark = 1,
            };
            int pid = options.ProcessId;
            var pfd = Interop.PerfEventOpen(ref attr, pid, pid == -1 ? 0 : -1, -1, $"uprobe {target}");
            a.Add(pfd);
            LinkOrIoctl(p, a, pfd);
        }
    }

    private static unsafe void AttachKprobe(BpfObjectProgram p, BpfAttachment a, string target)
    {
        var (type, retBit) = Pmu("kprobe", "kprobes");
        string func = target;
        ulong offset = 0;
        int plus = target.IndexOf('+');
        if (plus > 0 && ulong.TryParse(target.AsSpan(plus + 1), out offset)) func = target[..plus];
        var name = Encoding.ASCII.GetBytes(func + "\0");
        fixed (byte* n = name)
        {
            var attr = new PerfEventAttr
            {
                Type = type, Config = p.AttachKind == BpfAttachKind.Kretprobe ? 1UL << retBit : 0, Config1 = (ulong)n, Config2 = offset,
                SamplePeriodOrFreq = 1, WakeupEventsOrWatermark = 1,
            };
            int fd = Interop.perf_event_open(ref attr, -1, 0, -1, Interop.PERF_FLAG_FD_CLOEXEC);
            if (fd < 0)
            {
                int err = Errno.Last;
                if (err is Errno.ENOENT or Errno.EINVAL or Errno.EOPNOTSUPP or Errno.ENOTSUPP or Errno.ENODEV)
                    throw new KernelDebugException($"The kernel refused a kprobe on '{func}' ({Errno.Name(err)}): kprobes are unavailable here (no CONFIG_KPROBES or KPROBE_EVENTS, lockdown) or the function cannot be probed. Get-KernelDebugCapability shows what this host allows.",
                        "BpfKprobeNotSupported", ErrorCategory.NotImplemented) { Target = func };
                throw new KernelDebugException(err, "perf_event_open kprobe", func) { Remedy = BpfInspector.BpfRemedy };
            }
            var pfd = new SafeFileDescriptor(fd);
            a.Add(pfd);
            LinkOrIoctl(p, a, pfd);
        }
    }

    private static void AttachPerfEvents(BpfObjectProgram p, BpfAttachment a, BpfAttachOptions options)
    {
        int cpus = BpfMapReader.PossibleCpus();
        for (int cpu = 0; cpu < cpus; cpu++)
        {
            if (!Directory.Exists($"/sys/devices/system/cpu/cpu{cpu}")) continue;
            var attr = new PerfEventAttr { Type = (uint)PerfTypeId.Software, Config = 0 /* cpu-clock */, SamplePeriodOrFreq = options.Frequency, Flags = (ulong)PerfAttrFlags.Freq };
            int fd = Interop.perf_event_open(ref attr, -1, cpu, -1, Interop.PERF_FLAG_FD_CLOEXEC);
            if (fd < 0)
            {
                if (Errno.Last == Errno.ENODEV) continue; // offline CPU
                throw new KernelDebugException(Errno.Last, "perf_event_open cpu-clock", cpu.ToString(CultureInfo.InvariantCulture)) { Remedy = BpfInspector.BpfRemedy };
            }
            var pfd = new SafeFileDescriptor(fd);
            a.Add(pfd);
            LinkOrIoctl(p, a, pfd);
        }
    }
}
