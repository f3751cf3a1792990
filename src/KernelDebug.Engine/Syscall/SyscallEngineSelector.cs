using System.Management.Automation;
using KernelDebug.Bpf;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Syscall;

/// <summary>
/// The one place that decides which syscall engine runs: the user's -Engine, what the cmdlet's BPF side implements,
/// the options that need ptrace, and whether BPF works on this host (tried once per process by loading kd_syscalls).
/// </summary>
public static class SyscallEngineSelector
{
    private static readonly Lazy<(bool Works, string Why)> Probe = new(ProbeBpf);

    /// <summary>Whether the BPF engine can run here, and why (not).</summary>
    public static (bool Works, string Why) BpfWorks() => Probe.Value;

    /// <summary>
    /// Picks the engine. <paramref name="ptraceOnly"/> names the requested options only ptrace can do (e.g. "-Inject");
    /// <paramref name="bpfImplemented"/> is false for a cmdlet with no BPF side yet. An explicit -Engine Bpf that cannot
    /// run is an error saying why; Auto falls back to Ptrace and says why in the reason.
    /// </summary>
    public static (SyscallEngine Engine, string Reason) Select(SyscallEngine requested, IReadOnlyCollection<string> ptraceOnly, bool bpfImplemented = true)
    {
        if (requested == SyscallEngine.Ptrace) return (SyscallEngine.Ptrace, "-Engine Ptrace was asked for");
        string? against = !bpfImplemented ? "this cmdlet has no BPF engine yet"
            : ptraceOnly.Count > 0 ? $"{string.Join(", ", ptraceOnly)} need{(ptraceOnly.Count == 1 ? "s" : "")} the ptrace engine"
            : null;
        if (against is null)
        {
            var (works, why) = BpfWorks();
            if (!works) against = why;
        }
        if (against is null) return (SyscallEngine.Bpf, requested == SyscallEngine.Bpf ? "-Engine Bpf was asked for" : "BPF works here and no option needs ptrace");
        if (requested == SyscallEngine.Bpf)
            throw new KernelDebugException($"The BPF syscall engine cannot run: {against}.", "SyscallEngineUnavailable", ErrorCategory.InvalidOperation)
            {
                Remedy = "Use -Engine Ptrace (or leave -Engine out to let the module choose); see Get-KernelDebugCapability SyscallEngine.",
            };
        return (SyscallEngine.Ptrace, against);
    }

    /// <summary>Get-KernelDebugCapability's SyscallEngine row: which engine Get-SyscallTrace would run by default, and why.</summary>
    public static Capability CapabilityRow()
    {
        var (works, why) = BpfWorks();
        return works
            ? new Capability("SyscallEngine", "process", true, $"Get-SyscallTrace runs the Bpf engine by default: {why}; options that need ptrace select the Ptrace engine")
            // Unavailable: the Bpf engine cannot run (Get-SyscallTrace still works, on ptrace), so checks that need it skip.
            : new Capability("SyscallEngine", "process", false, $"Get-SyscallTrace runs the Ptrace engine: the Bpf engine cannot run here ({why})");
    }

    private static (bool, string) ProbeBpf()
    {
        if (!File.Exists("/sys/kernel/tracing/events/raw_syscalls/sys_enter/id") && !File.Exists("/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id"))
            return (false, "the raw_syscalls tracepoints are not visible (tracefs not mounted, or no CONFIG_FTRACE_SYSCALLS)");
        try
        {
            // Loading the module's program (no attach) proves bpf(), the ring buffer, the verifier's acceptance and the privilege.
            var spec = BpfObjectSpec.BuiltIn("kd_syscalls");
            spec.Maps.First(m => m.Name == "events").MaxEntries = 64 << 10;
            using var obj = BpfObject.Load(spec);
            return (true, "kd_syscalls.bpf.o loads (bpf(), BPF ring buffer, tracepoint programs) and raw_syscalls tracepoints are there");
        }
        catch (KernelDebugException e)
        {
            return (false, $"kd_syscalls.bpf.o does not load: {e.Message.Split('\n')[0].Trim()}");
        }
    }
}
