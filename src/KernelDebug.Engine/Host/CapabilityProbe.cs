using System.Runtime.InteropServices;
using KernelDebug.Native;

namespace KernelDebug.Host;

/// <summary>
/// Answers "does this work here, and why not" by probing the running host: tracefs files, the kernel
/// configuration, opening (and closing) perf events, the bpf() syscall, procfs settings and PATH.
/// Nothing is changed, except that tracefs and debugfs are mounted when absent and running as root, as every cmdlet does.
/// </summary>
public static class CapabilityProbe
{
    private sealed record Probe(string Name, string Area, Func<Capability> Run);

    private static readonly Probe[] Probes =
    {
        new("TraceFs", "ftrace", ProbeTraceFs),
        new("DebugFs", "host", ProbeDebugFs),
        new("TraceEvents", "ftrace", ProbeTraceEvents),
        new("SyscallTracepoints", "ftrace", ProbeSyscallTracepoints),
        new("TraceInstances", "ftrace", ProbeInstances),
        new("FunctionTracer", "ftrace", () => ProbeTracer("FunctionTracer", "function", "CONFIG_FUNCTION_TRACER")),
        new("FunctionGraphTracer", "ftrace", () => ProbeTracer("FunctionGraphTracer", "function_graph", "CONFIG_FUNCTION_GRAPH_TRACER")),
        new("Kprobes", "probes", () => ProbeDynamicFile("Kprobes", "kprobe_events", "CONFIG_KPROBE_EVENTS", "CONFIG_KPROBES")),
        new("Uprobes", "probes", () => ProbeDynamicFile("Uprobes", "uprobe_events", "CONFIG_UPROBE_EVENTS", "CONFIG_UPROBES")),
        new("Eprobes", "probes", ProbeEprobes),
        new("Fprobes", "probes", () => ProbeReadmeSyntax("Fprobes", "f[:[<group>/][<event>]]", "CONFIG_FPROBE_EVENTS")),
        new("HistTriggers", "ftrace", ProbeHistTriggers),
        new("PerfEvents", "perf", ProbePerfEvents),
        new("PerfHardwareCounters", "perf", ProbePerfHardware),
        new("PerfKernelProfiling", "perf", ProbePerfKernel),
        new("Bpf", "bpf", ProbeBpf),
        new("Btf", "bpf", ProbeBtf),
        new("BpfProgramTypes", "bpf", ProbeBpfProgramTypes),
        new("BpfRingBuffer", "bpf", ProbeBpfRingBuffer),
        new("BpfLinks", "bpf", ProbeBpfLinks),
        new("BpfCoRe", "bpf", ProbeBpfCoRe),
        new("Ptrace", "process", ProbePtrace),
        new("SyscallEngine", "process", KernelDebug.Syscall.SyscallEngineSelector.CapabilityRow),
        new("MeasureSyscallEngine", "process", ProbeMeasureSyscallEngine),
        new("Kmemleak", "memory", ProbeKmemleak),
        new("Kasan", "memory", ProbeKasan),
        new("Kfence", "memory", ProbeKfence),
        new("Ubsan", "memory", ProbeUbsan),
        new("KernelLog", "memory", ProbeKernelLog),
        new("Lockdown", "host", ProbeLockdown),
        new("Perf", "program", () => ProbeProgram("Perf", "perf", "linux-perf", "--version")),
        new("Bpftrace", "program", ProbeBpftrace),
        new("Bpftool", "program", () => ProbeProgram("Bpftool", "bpftool", "bpftool", "version")),
        new("SystemTap", "program", ProbeSystemTap),
        new("Strace", "program", () => ProbeProgram("Strace", "strace", "strace", "-V")),
        new("Ltrace", "program", () => ProbeProgram("Ltrace", "ltrace", "ltrace", "-V")),
        new("TraceCmd", "program", () => ProbeProgram("TraceCmd", "trace-cmd", "trace-cmd", "--version")),
    };

    public static IReadOnlyList<string> Names { get; } = Probes.Select(p => p.Name).ToArray();

    /// <summary>Runs the probes whose names match (all when names is null); a probe that throws reports unavailable with the reason.</summary>
    public static IEnumerable<Capability> Run(IEnumerable<string>? names = null, Action<string>? log = null)
    {
        _log = log;
        var wanted = names?.ToList();
        foreach (var p in Probes)
        {
            if (wanted is not null && !wanted.Any(w => System.Management.Automation.WildcardPattern.Get(w, System.Management.Automation.WildcardOptions.IgnoreCase).IsMatch(p.Name)))
                continue;
            Capability c;
            try { c = p.Run(); }
            catch (KernelDebugException e) { c = new Capability(p.Name, p.Area, false, e.Message, e.Remedy); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            { c = new Capability(p.Name, p.Area, false, e.Message); }
            yield return c;
        }
    }

    [ThreadStatic] private static Action<string>? _log;

    private const string RootRemedy = "Run pwsh as root (sudo pwsh).";

    // ---------- tracefs ----------

    /// <summary>Where tracefs is, or null with the reason: not mounted (and not mountable), or mounted but closed to this process.</summary>
    private static string? TraceFsOrNull(out string why, out string? remedy) =>
        MountedAndReadable(KernelFileSystems.GetTraceFs, "README", "tracefs", out why, out remedy);

    private static string? TraceFsOrNull(out string why) => TraceFsOrNull(out why, out _);

    /// <summary>Where debugfs is, or null with the reason, like TraceFsOrNull.</summary>
    private static string? DebugFsOrNull(out string why, out string? remedy) =>
        MountedAndReadable(KernelFileSystems.GetDebugFs, ".", "debugfs", out why, out remedy);

    private static string? MountedAndReadable(Func<Action<string>?, string> locate, string probeFile, string type, out string why, out string? remedy)
    {
        string mountPoint;
        try { mountPoint = locate(_log); }
        catch (KernelDebugException e) { why = e.Message; remedy = e.Remedy; return null; }
        // Without read access the file system looks empty: say that, not that its files are absent.
        using var fd = Interop.TryOpen(Path.Combine(mountPoint, probeFile), Interop.O_RDONLY, out var errno);
        remedy = RootRemedy;
        why = fd is null ? $"{type} is mounted at {mountPoint}, but this process cannot read it ({(probeFile == "." ? mountPoint : probeFile)}: {Errno.Name(errno)})" : string.Empty;
        return fd is null ? null : mountPoint;
    }

    private static Capability Unavailable(string name, string area, string detail, string? remedy) => new(name, area, false, detail, remedy);

    private static Capability ProbeTraceFs()
    {
        var t = TraceFsOrNull(out var why, out var remedy);
        return t is null
            ? Unavailable("TraceFs", "ftrace", why, remedy ?? "Run as root, or mount it: mount -t tracefs nodev /sys/kernel/tracing")
            : new Capability("TraceFs", "ftrace", true, $"tracefs is mounted at {t}");
    }

    private static Capability ProbeDebugFs()
    {
        var d = DebugFsOrNull(out var why, out var remedy);
        return d is null
            ? Unavailable("DebugFs", "host", why, remedy ?? "Run as root, or mount it: mount -t debugfs nodev /sys/kernel/debug")
            : new Capability("DebugFs", "host", true, $"debugfs is mounted at {d}");
    }

    private static Capability ProbeTraceEvents()
    {
        var t = TraceFsOrNull(out var why);
        if (t is null) return Unavailable("TraceEvents", "ftrace", why, RootRemedy);
        var text = ControlFile.TryReadText(Path.Combine(t, "available_events"), out var errno);
        if (text is null) return Unavailable("TraceEvents", "ftrace", $"available_events is not readable ({Errno.Name(errno)})", RootRemedy);
        var events = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        int systems = events.Select(e => e.Split(':')[0]).Distinct().Count();
        return events.Length == 0
            ? Unavailable("TraceEvents", "ftrace", "available_events is empty: " + KernelConfig.Explain("CONFIG_EVENT_TRACING"), "Boot a kernel built with CONFIG_EVENT_TRACING.")
            : new Capability("TraceEvents", "ftrace", true, $"{events.Length} trace events in {systems} systems");
    }

    private static Capability ProbeSyscallTracepoints()
    {
        var t = TraceFsOrNull(out var why);
        if (t is null) return Unavailable("SyscallTracepoints", "ftrace", why, RootRemedy);
        var dir = Path.Combine(t, "events", "syscalls");
        if (!Directory.Exists(dir))
            return Unavailable("SyscallTracepoints", "ftrace", "events/syscalls is absent: " + KernelConfig.Explain("CONFIG_FTRACE_SYSCALLS"), "Boot a kernel built with CONFIG_FTRACE_SYSCALLS.");
        int n = Directory.GetDirectories(dir, "sys_enter_*").Length;
        return new Capability("SyscallTracepoints", "ftrace", true, $"{n} syscall entry tracepoints (events/syscalls), plus raw_syscalls");
    }

    private static Capability ProbeInstances()
    {
        var t = TraceFsOrNull(out var why);
        if (t is null) return Unavailable("TraceInstances", "ftrace", why, RootRemedy);
        var dir = Path.Combine(t, "instances");
        if (!Directory.Exists(dir)) return Unavailable("TraceInstances", "ftrace", "tracefs has no instances directory (kernel older than 3.10)", "Boot a newer kernel.");
        if (!KernelFileSystems.IsRoot) return Unavailable("TraceInstances", "ftrace", "instances/ exists, but only root can create an instance", RootRemedy);
        int n = Directory.GetDirectories(dir).Length;
        return new Capability("TraceInstances", "ftrace", true, $"instances/ is present ({n} instance(s) exist now)");
    }

    private static Capability ProbeTracer(string name, string tracer, string option)
    {
        var t = TraceFsOrNull(out var why);
        if (t is null) return Unavailable(name, "ftrace", why, RootRemedy);
        var tracers = (ControlFile.TryReadText(Path.Combine(t, "available_tracers"), out var e1) ?? string.Empty)
            .Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (!tracers.Contains(tracer))
            return Unavailable(name, "ftrace", $"the {tracer} tracer is not in available_tracers ({string.Join(" ", tracers)}): {KernelConfig.Explain(option)}",
                $"Boot a kernel built with {option} (the debug kernel in the project's VM tests has it).");
        var funcs = Path.Combine(t, "available_filter_functions");
        using var fd = Interop.TryOpen(funcs, Interop.O_RDONLY, out var errno);
        if (fd is null)
            return Unavailable(name, "ftrace",
                $"the {tracer} tracer is listed, but the kernel refuses access to its function list (available_filter_functions: {Errno.Name(errno)}), so it cannot be used",
                "This kernel or its hypervisor blocks dynamic ftrace; use a kernel that allows it (the project's VM tests boot one).");
        return new Capability(name, "ftrace", true, $"the {tracer} tracer is available and its function list is readable");
    }

    private static Capability ProbeDynamicFile(string name, string file, string option, string baseOption)
    {
        var t = TraceFsOrNull(out var why);
        if (t is null) return Unavailable(name, "probes", why, RootRemedy);
        if (File.Exists(Path.Combine(t, file)))
            return new Capability(name, "probes", true, $"{file} is present");
        var cfg = KernelConfig.Load();
        string reason = cfg is not null && !cfg.IsEnabled(baseOption) ? KernelConfig.Explain(baseOption) : KernelConfig.Explain(option);
        return Unavailable(name, "probes", $"{file} is absent: {reason}", $"Boot a kernel built with {baseOption} and {option}.");
    }

    private static Capability ProbeReadmeSyntax(string name, string syntax, string option)
    {
        var t = TraceFsOrNull(out var why);
        if (t is null) return Unavailable(name, "probes", why, RootRemedy);
        var readme = ControlFile.TryReadText(Path.Combine(t, "README"), out _) ?? string.Empty;
        bool hasDynamic = File.Exists(Path.Combine(t, "dynamic_events"));
        if (hasDynamic && readme.Contains(syntax, StringComparison.Ordinal))
            return new Capability(name, "probes", true, $"dynamic_events accepts '{syntax}' definitions (tracefs README)");
        return Unavailable(name, "probes",
            hasDynamic ? $"the tracefs README lists no '{syntax}' syntax for dynamic_events: {KernelConfig.Explain(option)}"
                       : $"dynamic_events is absent: {KernelConfig.Explain(option)}",
            $"Boot a kernel built with {option}.");
    }

    private static Capability ProbeEprobes()
    {
        // The tracefs README lists the e: syntax whether or not CONFIG_EPROBE_EVENTS is set, so ask the build, then the symbols.
        var t = TraceFsOrNull(out var why);
        if (t is null) return Unavailable("Eprobes", "probes", why, RootRemedy);
        if (!File.Exists(Path.Combine(t, "dynamic_events")))
            return Unavailable("Eprobes", "probes", $"dynamic_events is absent: {KernelConfig.Explain("CONFIG_DYNAMIC_EVENTS")}", "Boot a kernel built with CONFIG_EPROBE_EVENTS.");
        // Kernels older than the CONFIG_EPROBE_EVENTS option (6.1 among them) build eprobes with the probe events:
        // an option the configuration does not mention is decided by the symbols.
        var cfg = KernelConfig.Load();
        bool fromConfig = cfg?["CONFIG_EPROBE_EVENTS"] is not null;
        bool built = fromConfig ? cfg!.IsEnabled("CONFIG_EPROBE_EVENTS") : KallsymsHasName("eprobe_register");
        return built
            ? new Capability("Eprobes", "probes", true, fromConfig ? KernelConfig.Explain("CONFIG_EPROBE_EVENTS") + "; definitions go to dynamic_events" : "eprobe_register is in /proc/kallsyms; definitions go to dynamic_events")
            : Unavailable("Eprobes", "probes", fromConfig ? KernelConfig.Explain("CONFIG_EPROBE_EVENTS") : "no eprobe code in /proc/kallsyms (eprobe_register)", "Boot a kernel built with CONFIG_EPROBE_EVENTS (the debug kernel in the project's VM tests has it).");
    }

    private static Capability ProbeHistTriggers()
    {
        var t = TraceFsOrNull(out var why);
        if (t is null) return Unavailable("HistTriggers", "ftrace", why, RootRemedy);
        var readme = ControlFile.TryReadText(Path.Combine(t, "README"), out _) ?? string.Empty;
        bool histFile = Directory.Exists(Path.Combine(t, "events", "sched", "sched_switch")) && File.Exists(Path.Combine(t, "events", "sched", "sched_switch", "hist"));
        if (histFile || readme.Contains("hist:keys=", StringComparison.Ordinal))
            return new Capability("HistTriggers", "ftrace", true, "events have hist files and the README documents hist:keys=");
        return Unavailable("HistTriggers", "ftrace", $"events have no hist file: {KernelConfig.Explain("CONFIG_HIST_TRIGGERS")}", "Boot a kernel built with CONFIG_HIST_TRIGGERS.");
    }

    // ---------- perf ----------

    internal static int Paranoid => int.TryParse(ControlFile.TryReadText("/proc/sys/kernel/perf_event_paranoid", out _)?.Trim(), out var v) ? v : 2;

    /// <summary>Opens one counter and closes it at once; returns 0 or the errno.</summary>
    private static int TryOpenCounter(PerfTypeId type, ulong config, int pid, int cpu, PerfAttrFlags flags)
    {
        var attr = new PerfEventAttr { Type = (uint)type, Config = config, Flags = (ulong)(flags | PerfAttrFlags.Disabled) };
        int error = Interop.TryPerfEventOpen(ref attr, pid, cpu, -1, out var handle);
        if (error != 0) return error;
        using var counter = handle!;
        return 0;
    }

    internal const string ParanoidRemedy =
        "Lower kernel.perf_event_paranoid (sysctl kernel.perf_event_paranoid=1 lets users profile their own processes and the kernel; -1 allows everything) or run as root / with CAP_PERFMON. " +
        "Levels: -1 no restriction; 0 no raw tracepoint access for users; 1 user and kernel profiling of own processes; 2 user-space only (default); 3+ (some distributions) no perf for unprivileged users.";

    private static Capability ProbePerfEvents()
    {
        int err = TryOpenCounter(PerfTypeId.Software, 1 /* task-clock */, 0, -1, PerfAttrFlags.ExcludeKernel | PerfAttrFlags.ExcludeHv);
        if (err == Errno.ENOENT || err == Errno.ENOSYS)
            return Unavailable("PerfEvents", "perf", $"perf_event_open is not available ({Errno.Name(err)}): {KernelConfig.Explain("CONFIG_PERF_EVENTS")}", "Boot a kernel built with CONFIG_PERF_EVENTS.");
        if (err != 0)
            return Unavailable("PerfEvents", "perf", $"perf_event_open of task-clock on this process failed with {Errno.Name(err)} (perf_event_paranoid={Paranoid})", ParanoidRemedy);
        return new Capability("PerfEvents", "perf", true, $"software events open (task-clock); perf_event_paranoid={Paranoid}");
    }

    private static Capability ProbePerfHardware()
    {
        int err = TryOpenCounter(PerfTypeId.Hardware, 0 /* cycles */, 0, -1, PerfAttrFlags.ExcludeKernel | PerfAttrFlags.ExcludeHv);
        if (err == 0) return new Capability("PerfHardwareCounters", "perf", true, "the cycles counter opens (a hardware PMU is exposed)");
        string why = err is Errno.ENOENT or Errno.EOPNOTSUPP or Errno.ENODEV
            ? $"opening the cycles counter failed with {Errno.Name(err)}: no hardware PMU is exposed to this machine (typical of a VM without PMU passthrough); perf stat shows <not supported>"
            : $"opening the cycles counter failed with {Errno.Name(err)} (perf_event_paranoid={Paranoid})";
        return Unavailable("PerfHardwareCounters", "perf", why,
            err is Errno.EACCES or Errno.EPERM ? ParanoidRemedy : "Run on bare metal or a VM with a virtual PMU (e.g. KVM with -cpu host and vPMU enabled); software events still work.");
    }

    private static Capability ProbePerfKernel()
    {
        int err = TryOpenCounter(PerfTypeId.Software, 0 /* cpu-clock */, -1, 0, 0);
        if (err != 0)
            return Unavailable("PerfKernelProfiling", "perf", $"a system-wide cpu-clock event including the kernel failed with {Errno.Name(err)} (perf_event_paranoid={Paranoid})", ParanoidRemedy);
        var kptr = ControlFile.TryReadText("/proc/sys/kernel/kptr_restrict", out _)?.Trim();
        bool symbols = KallsymsHasAddresses();
        return symbols
            ? new Capability("PerfKernelProfiling", "perf", true, $"system-wide kernel sampling opens and /proc/kallsyms shows addresses (kptr_restrict={kptr})")
            : Unavailable("PerfKernelProfiling", "perf", $"kernel sampling opens, but /proc/kallsyms hides addresses (kptr_restrict={kptr}), so kernel frames cannot be symbolized",
                "Run as root, or: sysctl kernel.kptr_restrict=0");
    }

    private static bool KallsymsHasAddresses() => Symbols.Kallsyms.Current.HasAddresses;

    // ---------- bpf ----------

    private static unsafe Capability ProbeBpf()
    {
        // BPF_PROG_GET_NEXT_ID only reads: 0 or ENOENT (no programs) both prove the syscall works for us.
        var attr = stackalloc uint[4];
        int err = Interop.TryBpf(Interop.BPF_PROG_GET_NEXT_ID, attr, 16, out _);
        var unpriv = ControlFile.TryReadText("/proc/sys/kernel/unprivileged_bpf_disabled", out _)?.Trim();
        string caps = BpfCapabilities(out var missing);
        string lockdown = LockdownMode() switch
        {
            "none" => "",
            "confidentiality" => "; lockdown=confidentiality: bpf reads of kernel memory are refused (bpftrace and tracing programs cannot read kernel data), and so is bpf_probe_write_user",
            var mode => $"; lockdown={mode}: bpf_probe_write_user is refused (bpf reads of kernel memory are refused only in confidentiality mode)",
        };
        if (err is 0 or Errno.ENOENT)
            return new Capability("Bpf", "bpf", true, $"the bpf() syscall answers (BPF_PROG_GET_NEXT_ID); unprivileged_bpf_disabled={unpriv}; {caps}{lockdown}");
        if (err == Errno.ENOSYS)
            return Unavailable("Bpf", "bpf", $"the bpf() syscall is not implemented: {KernelConfig.Explain("CONFIG_BPF_SYSCALL")}", "Boot a kernel built with CONFIG_BPF_SYSCALL.");
        return Unavailable("Bpf", "bpf", $"the bpf() syscall refused BPF_PROG_GET_NEXT_ID with {Errno.Name(err)} (unprivileged_bpf_disabled={unpriv}); {caps}{lockdown}",
            missing.Length > 0 ? $"Run as root, or grant {string.Join(" and ", missing)} (setcap or a capability-aware service manager)." : "Run as root, or grant CAP_BPF and CAP_PERFMON.");
    }

    private const int CapSysAdmin = 21, CapPerfmon = 38, CapBpf = 39;

    /// <summary>What CapEff of this process (/proc/self/status) says about CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN.</summary>
    internal static string BpfCapabilities(out string[] missing)
    {
        var line = File.Exists("/proc/self/status") ? File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("CapEff:", StringComparison.Ordinal)) : null;
        if (line is null || !ulong.TryParse(line[7..].Trim(), System.Globalization.NumberStyles.HexNumber, null, out var eff))
        {
            missing = Array.Empty<string>();
            return "CapEff is unreadable";
        }
        bool Has(int bit) => (eff & (1UL << bit)) != 0;
        missing = Has(CapSysAdmin) ? Array.Empty<string>() : new[] { (CapBpf, "CAP_BPF"), (CapPerfmon, "CAP_PERFMON") }.Where(c => !Has(c.Item1)).Select(c => c.Item2).ToArray();
        var have = new[] { (CapBpf, "CAP_BPF"), (CapPerfmon, "CAP_PERFMON"), (CapSysAdmin, "CAP_SYS_ADMIN") }.Where(c => Has(c.Item1)).Select(c => c.Item2).ToArray();
        return $"CapEff 0x{eff:x}: " + (have.Length == 0 ? "none of CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN" : string.Join(", ", have)) +
            (missing.Length > 0 ? $" (missing {string.Join(", ", missing)}: loading tracing programs needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN)" : "");
    }

    /// <summary>The lockdown mode the Lockdown probe finds (from securityfs, or inferred when it is not mounted).</summary>
    private static string LockdownMode() => ReadLockdown().Mode;

    private static Capability ProbeBpftrace()
    {
        var prog = ProbeProgram("Bpftrace", "bpftrace", "bpftrace", "--version");
        if (!prog.Available) return prog;
        var bpf = ProbeBpf();
        if (!bpf.Available) return Unavailable("Bpftrace", "program", $"{prog.Detail}; but {bpf.Detail}", bpf.Remedy);
        if (LockdownMode() == "confidentiality")
            return Unavailable("Bpftrace", "program", $"{prog.Detail}; but the kernel is locked down in confidentiality mode, which refuses bpf reads of kernel memory", "Boot without lockdown=confidentiality.");
        bool kprobes = File.Exists(Path.Combine(KernelFileSystems.FindMounted("tracefs") ?? KernelFileSystems.DefaultTraceFsPath, "kprobe_events"));
        // bpftrace --info tests each probe type by loading a program (kfunc needs BTF and BPF trampolines, iter needs BPF
        // iterators); its kprobe check only loads one, so kprobe_events says whether kprobes can attach.
        var info = ProgramLocator.Find("bpftrace") is { } bt ? ProgramLocator.Run(bt, new[] { "--info" }, TimeSpan.FromSeconds(10)) : null;
        var missing = info is { ExitCode: 0 } r ? BpftraceMissingProbeTypes(r.StdOut + r.StdErr).Where(t => t != "kprobe").ToList() : new List<string>();
        string notes = (kprobes ? "" : $"; kprobe probes will fail ({KernelConfig.Explain("CONFIG_KPROBES")})") +
            (missing.Count == 0 ? "" : $"; bpftrace --info finds no support for {string.Join(", ", missing)} probes, which will fail") +
            "; tracepoint, uprobe, profile and interval probes need only bpf() and perf events";
        return new Capability("Bpftrace", "program", true, $"{prog.Detail}; {BpfCapabilities(out _)}{notes}");
    }

    /// <summary>The probe types bpftrace --info lists as "no" under "Probe types".</summary>
    internal static IEnumerable<string> BpftraceMissingProbeTypes(string infoText)
    {
        bool inSection = false;
        foreach (var line in infoText.Split('\n'))
        {
            if (!line.StartsWith(' ') && line.Trim().Length > 0) { inSection = line.Trim() == "Probe types"; continue; }
            var m = System.Text.RegularExpressions.Regex.Match(line, @"^\s+(\S+): no\s*$");
            if (inSection && m.Success) yield return m.Groups[1].Value;
        }
    }

    private static Capability ProbeBtf()
    {
        const string path = "/sys/kernel/btf/vmlinux";
        if (File.Exists(path))
            return new Capability("Btf", "bpf", true, $"{path} is present ({new FileInfo(path).Length / 1024} KiB)");
        return Unavailable("Btf", "bpf", $"{path} is absent: {KernelConfig.Explain("CONFIG_DEBUG_INFO_BTF")}", "Boot a kernel built with CONFIG_DEBUG_INFO_BTF.");
    }

    // ---------- the BPF engine (Import-BpfObject) ----------

    // The smallest program (r0 = 0; exit) of a type: the verifier accepts it wherever the type exists.
    private static unsafe int TryLoadProgram(uint type)
    {
        ulong* insns = stackalloc ulong[2];
        insns[0] = 0xb7; // mov64 r0, 0
        insns[1] = 0x95; // exit
        var license = stackalloc byte[4] { (byte)'G', (byte)'P', (byte)'L', 0 };
        var attr = new BpfProgLoadAttr { ProgType = type, InsnCnt = 2, Insns = (ulong)insns, License = (ulong)license };
        long fd = Interop.bpf(Interop.BPF_PROG_LOAD, &attr, (uint)sizeof(BpfProgLoadAttr));
        if (fd < 0) return Errno.Last;
        Interop.close((int)fd);
        return 0;
    }

    private static Capability ProbeBpfProgramTypes()
    {
        var types = new (string Name, uint Type)[] { ("tracepoint", 5), ("raw_tracepoint", 17), ("kprobe", 2), ("perf_event", 7) };
        var ok = new List<string>();
        var refused = new List<string>();
        foreach (var (name, type) in types)
        {
            int err = TryLoadProgram(type);
            if (err == 0) ok.Add(name); else refused.Add($"{name} ({Errno.Name(err)})");
        }
        // Tracing programs (tp_btf, fentry, fexit) need an attach target in the kernel's BTF: they load where Btf is available.
        string tracing = File.Exists("/sys/kernel/btf/vmlinux") ? "; tp_btf/fentry/fexit load against /sys/kernel/btf/vmlinux (fentry/fexit attach needs BPF trampolines)" : "; no tp_btf/fentry/fexit without /sys/kernel/btf/vmlinux";
        if (ok.Count == 0)
            return Unavailable("BpfProgramTypes", "bpf", $"no tracing program type loads: {string.Join(", ", refused)}", "Run as root, or grant CAP_BPF and CAP_PERFMON; see the Bpf row.");
        return new Capability("BpfProgramTypes", "bpf", true, $"loads {string.Join(", ", ok)}{(refused.Count > 0 ? $"; refused: {string.Join(", ", refused)}" : "")}{tracing}");
    }

    private static unsafe Capability ProbeBpfRingBuffer()
    {
        var attr = new BpfMapCreateAttr { MapType = 27, MaxEntries = (uint)Environment.SystemPageSize };
        long fd = Interop.bpf(Interop.BPF_MAP_CREATE, &attr, (uint)sizeof(BpfMapCreateAttr));
        if (fd >= 0)
        {
            Interop.close((int)fd);
            return new Capability("BpfRingBuffer", "bpf", true, "BPF_MAP_TYPE_RINGBUF maps can be created (5.8+); Receive-BpfEvent also reads perf event arrays");
        }
        int err = Errno.Last;
        return Unavailable("BpfRingBuffer", "bpf", err == Errno.EINVAL
            ? "the kernel has no BPF ring buffer (BPF_MAP_TYPE_RINGBUF came in 5.8): programs must use perf event arrays"
            : $"creating a ring buffer map failed with {Errno.Name(err)}", err is Errno.EPERM or Errno.EACCES ? "Run as root, or grant CAP_BPF." : "Use a 5.8 or later kernel.");
    }

    private static unsafe Capability ProbeBpfLinks()
    {
        // BPF_LINK_CREATE with no program: EBADF says the command exists (5.7+), EINVAL that it does not.
        var attr = new BpfLinkCreateAttr { ProgFd = uint.MaxValue, TargetFd = uint.MaxValue, AttachType = 41 };
        long r = Interop.bpf(Interop.BPF_LINK_CREATE, &attr, (uint)sizeof(BpfLinkCreateAttr));
        int err = r < 0 ? Errno.Last : 0;
        if (r >= 0) Interop.close((int)r);
        if (err is Errno.EBADF or 0)
            return new Capability("BpfLinks", "bpf", true, "BPF_LINK_CREATE is there: tracepoints, uprobes and perf events attach through bpf links (perf_event links need 5.15), raw tracepoints through BPF_RAW_TRACEPOINT_OPEN");
        if (err is Errno.EPERM or Errno.EACCES)
            return Unavailable("BpfLinks", "bpf", $"BPF_LINK_CREATE refused with {Errno.Name(err)}", "Run as root, or grant CAP_BPF and CAP_PERFMON.");
        return Unavailable("BpfLinks", "bpf", $"BPF_LINK_CREATE answered {Errno.Name(err)}: no bpf links (before 5.7); programs attach by PERF_EVENT_IOC_SET_BPF instead", "Nothing to do: Start-BpfProgram falls back to the ioctl.");
    }

    private static Capability ProbeBpfCoRe()
    {
        const string path = "/sys/kernel/btf/vmlinux";
        if (File.Exists(path))
            return new Capability("BpfCoRe", "bpf", true, $"CO-RE relocations resolve against {path}: field offsets, sizes and existence, type existence and size, enum values");
        return Unavailable("BpfCoRe", "bpf", $"{path} is absent, so objects with CO-RE relocations (BPF_CORE_READ, preserve_access_index) cannot load: {KernelConfig.Explain("CONFIG_DEBUG_INFO_BTF")}", "Boot a kernel built with CONFIG_DEBUG_INFO_BTF, or use objects without CO-RE.");
    }

    // ---------- process ----------

    private static Capability ProbeMeasureSyscallEngine()
    {
        var (engine, reason, remedy) = Syscall.Bpf.SyscallEngineChoice.ForCounting();
        return engine == Syscall.SyscallEngine.Bpf
            ? new Capability("MeasureSyscallEngine", "process", true, $"Measure-Syscall runs on the Bpf engine: {reason}; -All and -CGroup are available")
            : Unavailable("MeasureSyscallEngine", "process", $"Measure-Syscall runs on the Ptrace engine (strace's cost per call; no -All, no -CGroup): {reason}", remedy ?? RootRemedy);
    }

    private static Capability ProbePtrace()
    {
        const string yama = "/proc/sys/kernel/yama/ptrace_scope";
        var status = File.Exists("/proc/self/status") ? File.ReadAllLines("/proc/self/status") : Array.Empty<string>();
        var tracer = status.FirstOrDefault(l => l.StartsWith("TracerPid:", StringComparison.Ordinal))?.Split('\t').Last().Trim();
        var seccomp = status.FirstOrDefault(l => l.StartsWith("Seccomp:", StringComparison.Ordinal))?.Split('\t').Last().Trim();
        string extra = $"this process: TracerPid {tracer}, Seccomp mode {seccomp}";
        if (!File.Exists(yama))
            return new Capability("Ptrace", "process", true, $"Yama is not active (no {yama}; {KernelConfig.Explain("CONFIG_SECURITY_YAMA")}): the classic rules apply, a process may trace its own children and same-uid processes; {extra}");
        var scope = ControlFile.TryReadText(yama, out _)?.Trim();
        return scope switch
        {
            "0" => new Capability("Ptrace", "process", true, $"Yama ptrace_scope=0 (classic): same-uid processes can be traced; {extra}"),
            "1" => new Capability("Ptrace", "process", true, $"Yama ptrace_scope=1 (restricted): children can be traced; attaching to other processes needs CAP_SYS_PTRACE{(KernelFileSystems.IsRoot ? ", which root has" : "")}; {extra}"),
            "2" when KernelFileSystems.IsRoot => new Capability("Ptrace", "process", true, $"Yama ptrace_scope=2 (admin-only): root can trace; {extra}"),
            "2" => Unavailable("Ptrace", "process", "Yama ptrace_scope=2 (admin-only): only processes with CAP_SYS_PTRACE may trace", "Run as root, or: sysctl kernel.yama.ptrace_scope=1"),
            _ => Unavailable("Ptrace", "process", $"Yama ptrace_scope={scope} (no attach): ptrace is disabled for everyone until reboot", "Reboot; the setting 3 cannot be lowered at run time."),
        };
    }

    // ---------- memory ----------

    private static Capability ProbeKmemleak()
    {
        var d = DebugFsOrNull(out var why, out var remedy);
        if (d is null) return Unavailable("Kmemleak", "memory", $"{why}, so kmemleak cannot be checked", remedy);
        if (File.Exists(Path.Combine(d, "kmemleak")))
        {
            using var fd = Interop.TryOpen(Path.Combine(d, "kmemleak"), Interop.O_RDONLY, out var errno);
            if (fd is not null) return new Capability("Kmemleak", "memory", true, $"{d}/kmemleak is present and readable");
            return Unavailable("Kmemleak", "memory", $"{d}/kmemleak exists but cannot be opened ({Errno.Name(errno)}): kmemleak may have been disabled at boot (kmemleak=off) or after an error", "Boot with kmemleak=on.");
        }
        return Unavailable("Kmemleak", "memory", $"debugfs has no kmemleak file: {KernelConfig.Explain("CONFIG_DEBUG_KMEMLEAK")}", "Boot a kernel built with CONFIG_DEBUG_KMEMLEAK (the project's VM tests boot one).");
    }

    private static Capability ProbeKasan()
    {
        var cfg = KernelConfig.Load();
        if (cfg?.IsEnabled("CONFIG_KASAN") == true)
        {
            string mode = cfg.IsEnabled("CONFIG_KASAN_GENERIC") ? "generic" : cfg.IsEnabled("CONFIG_KASAN_SW_TAGS") ? "software tags" : cfg.IsEnabled("CONFIG_KASAN_HW_TAGS") ? "hardware tags" : "unknown mode";
            return new Capability("Kasan", "memory", true, $"CONFIG_KASAN=y ({mode}); reports appear in the kernel log");
        }
        if (cfg is null && KallsymsHasName("kasan_report"))
            return new Capability("Kasan", "memory", true, "kasan_report is in /proc/kallsyms");
        return Unavailable("Kasan", "memory", KernelConfig.Explain("CONFIG_KASAN"), "Boot a kernel built with CONFIG_KASAN (the project's VM tests boot one); Get-KasanReport -Path still parses saved logs.");
    }

    /// <summary>True when a kernel symbol's name starts with the prefix (the feature's code is built in).</summary>
    private static bool KallsymsHasName(string prefix) => Symbols.Kallsyms.Current.AnyNameStartsWith(prefix);

    private static Capability ProbeKfence()
    {
        const string p = "/sys/module/kfence/parameters/sample_interval";
        if (File.Exists(p))
        {
            var v = ControlFile.TryReadText(p, out _)?.Trim();
            return v == "0"
                ? Unavailable("Kfence", "memory", "KFENCE is built in but disabled (sample_interval=0)", "Boot with kfence.sample_interval=100, or write a non-zero interval to " + p)
                : new Capability("Kfence", "memory", true, $"KFENCE samples every {v} ms");
        }
        return Unavailable("Kfence", "memory", $"{p} is absent: {KernelConfig.Explain("CONFIG_KFENCE")}", "Boot a kernel built with CONFIG_KFENCE.");
    }

    private static Capability ProbeUbsan()
    {
        var cfg = KernelConfig.Load();
        if (cfg?.IsEnabled("CONFIG_UBSAN") == true)
            return new Capability("Ubsan", "memory", true, "CONFIG_UBSAN=y; reports appear in the kernel log");
        if (cfg is null && KallsymsHasName("__ubsan_handle_"))
            return new Capability("Ubsan", "memory", true, "__ubsan_handle_* is in /proc/kallsyms");
        return Unavailable("Ubsan", "memory", KernelConfig.Explain("CONFIG_UBSAN"), "Boot a kernel built with CONFIG_UBSAN.");
    }

    private static Capability ProbeKernelLog()
    {
        var restrict = ControlFile.TryReadText("/proc/sys/kernel/dmesg_restrict", out _)?.Trim();
        using var fd = Interop.TryOpen("/dev/kmsg", Interop.O_RDONLY | Interop.O_NONBLOCK, out var errno);
        if (fd is not null) return new Capability("KernelLog", "memory", true, $"/dev/kmsg is readable (dmesg_restrict={restrict})");
        return Unavailable("KernelLog", "memory", $"/dev/kmsg cannot be opened ({Errno.Name(errno)}; dmesg_restrict={restrict})",
            errno is Errno.EPERM or Errno.EACCES ? "Run as root, grant CAP_SYSLOG, or: sysctl kernel.dmesg_restrict=0" : "Create /dev/kmsg (mknod /dev/kmsg c 1 11).");
    }

    private const string LockdownEffects =
        "integrity mode refuses writable debugfs files (kmemleak's control file), bpf_probe_write_user, /dev/mem and unsigned modules; " +
        "confidentiality mode also refuses kprobes, bpf reads of kernel memory, perf kernel profiling and tracefs";

    private static Capability ProbeLockdown()
    {
        var (mode, source) = ReadLockdown();
        if (mode == "none")
            return new Capability("Lockdown", "host", true, source);
        return Unavailable("Lockdown", "host", $"the kernel is locked down in {mode} mode ({source}); {LockdownEffects}",
            "Lockdown cannot be lifted at run time: boot a kernel without CONFIG_LOCK_DOWN_KERNEL_FORCE_* and without lockdown= (and, with Secure Boot, without automatic lockdown).");
    }

    /// <summary>The lockdown mode (none, integrity, confidentiality) and where it was read; for none, the whole sentence.</summary>
    private static (string Mode, string Source) ReadLockdown()
    {
        string? securityFs = KernelFileSystems.FindMounted("securityfs");
        var file = Path.Combine(securityFs ?? "/sys/kernel/security", "lockdown");
        var text = File.Exists(file) ? ControlFile.TryReadText(file, out _)?.Trim() : null;
        string mode, source;
        if (text is not null)
        {
            mode = System.Text.RegularExpressions.Regex.Match(text, @"\[(\w+)\]").Groups[1].Value;
            source = $"{file}: {text}";
        }
        else
        {
            // securityfs is not mounted: read the mode from the command line, then from the build and the active LSMs.
            var cmdline = ControlFile.TryReadText("/proc/cmdline", out _) ?? string.Empty;
            var cfg = KernelConfig.Load();
            var lsmArg = System.Text.RegularExpressions.Regex.Match(cmdline, @"(?:^|\s)lsm=(\S+)");
            var lsms = lsmArg.Success ? lsmArg.Groups[1].Value : cfg?["CONFIG_LSM"];
            bool lsmActive = lsms?.Split(',').Contains("lockdown") ?? cfg?.IsEnabled("CONFIG_SECURITY_LOCKDOWN_LSM") ?? false;
            var arg = System.Text.RegularExpressions.Regex.Match(cmdline, @"(?:^|\s)lockdown=(\w+)");
            if (cfg is not null && !cfg.IsEnabled("CONFIG_SECURITY_LOCKDOWN_LSM"))
                return ("none", "the lockdown LSM is not built in (" + KernelConfig.Explain("CONFIG_SECURITY_LOCKDOWN_LSM") + ")");
            if (!lsmActive)
                return ("none", $"the lockdown LSM is built in but not in the active LSM list ({lsms})");
            if (arg.Success) { mode = arg.Groups[1].Value; source = $"lockdown={mode} on the kernel command line"; }
            else if (cfg?.IsEnabled("CONFIG_LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY") == true) { mode = "confidentiality"; source = "CONFIG_LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY=y"; }
            else if (cfg?.IsEnabled("CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY") == true) { mode = "integrity"; source = "CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY=y with the lockdown LSM active"; }
            else { mode = "none"; source = "no lockdown= on the command line and none forced by the build (securityfs is not mounted, so the live mode is inferred)"; }
        }
        return mode == "none" ? ("none", $"kernel lockdown mode is none ({source})") : (mode, source);
    }

    // ---------- programs ----------

    private static readonly System.Text.RegularExpressions.Regex VersionLine =
        new(@"\bversion\s+v?\d+\.\d+", System.Text.RegularExpressions.RegexOptions.IgnoreCase | System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    private static Capability ProbeProgram(string name, string program, string package, string versionArg)
    {
        var path = ProgramLocator.Find(program);
        if (path is null)
            return Unavailable(name, "program", $"{program} is not on PATH", $"Install it: apt-get install {package} (Debian/Ubuntu) or dnf install {package}.");
        var result = ProgramLocator.Run(path, new[] { versionArg }, TimeSpan.FromSeconds(10));
        if (result is null) return Unavailable(name, "program", $"{path} did not answer '{versionArg}' within 10 s", $"Reinstall {package}.");
        var (code, stdout, stderr) = result.Value;
        var first = (stdout + "\n" + stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? string.Empty;
        // trace-cmd prints its version and then its usage, exiting 255: a version line is the answer.
        if (code != 0 && !VersionLine.IsMatch(first))
            return Unavailable(name, "program", $"{path} is installed but '{program} {versionArg}' failed (exit {code}): {first}", $"Reinstall {package}, or install the variant for this kernel.");
        return new Capability(name, "program", true, $"{path}: {first}");
    }

    private static Capability ProbeSystemTap()
    {
        var prog = ProbeProgram("SystemTap", "stap", "systemtap", "-V");
        if (!prog.Available) return prog;
        var release = ControlFile.TryReadText("/proc/sys/kernel/osrelease", out _)?.Trim() ?? "";
        var build = $"/lib/modules/{release}/build";
        if (!Directory.Exists(build))
            return Unavailable("SystemTap", "program", $"{prog.Detail}; but the kernel headers for {release} are missing ({build} does not exist), so scripts can only be parsed, elaborated and translated (stages 1-3, and kernel probe points cannot be resolved); compiling and running them (stages 4-5) needs the headers",
                $"Install the headers for the running kernel (apt-get install linux-headers-{release}) and its debug symbols (linux-image-{release}-dbg).");
        string[] debug = { $"/usr/lib/debug/boot/vmlinux-{release}", $"/usr/lib/debug/lib/modules/{release}/vmlinux", $"/boot/vmlinux-{release}" };
        if (!debug.Any(File.Exists))
            return Unavailable("SystemTap", "program", $"{prog.Detail}; headers present, but no kernel debug info (vmlinux) for {release}",
                $"Install the kernel's debug symbols (apt-get install linux-image-{release}-dbg).");
        return new Capability("SystemTap", "program", true, $"{prog.Detail}; headers and debug info for {release} present");
    }

    /// <summary>The architecture name the syscall tables are keyed by.</summary>
    public static string Architecture => RuntimeInformation.ProcessArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => "x86_64",
        System.Runtime.InteropServices.Architecture.Arm64 => "aarch64",
        var a => a.ToString(),
    };
}
