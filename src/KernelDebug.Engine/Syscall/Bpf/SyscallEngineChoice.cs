using KernelDebug.Bpf;
using KernelDebug.Native;

namespace KernelDebug.Syscall.Bpf;

/// <summary>
/// Which engine Measure-Syscall runs when -Engine is not given, and why: Bpf where this process can load kd_syscount
/// (bpf(), CAP_BPF and CAP_PERFMON or root, raw tracepoint programs, the verifier accepting its helpers, no lockdown
/// refusing them) and the kernel has the raw_syscalls tracepoints; else Ptrace. Decided once per process.
/// </summary>
public static class SyscallEngineChoice
{
    private static readonly Lazy<(SyscallEngine Engine, string Reason, string? Remedy)> Counting = new(DecideCounting);

    /// <summary>The engine for Measure-Syscall, the reason, and (for Ptrace) what would allow Bpf.</summary>
    public static (SyscallEngine Engine, string Reason, string? Remedy) ForCounting() => Counting.Value;

    private static (SyscallEngine, string, string?) DecideCounting()
    {
        if (BpfCoreRelocator.KernelBtf is { } btf && !btf.Named("btf_trace_sys_enter").Any())
            return (SyscallEngine.Ptrace, "the kernel has no raw_syscalls tracepoints (CONFIG_HAVE_SYSCALL_TRACEPOINTS, CONFIG_FTRACE_SYSCALLS)", "Boot a kernel with CONFIG_FTRACE_SYSCALLS.");
        try
        {
            using var obj = BpfObject.Load(BpfObjectSpec.BuiltIn("kd_syscount"));
            return (SyscallEngine.Bpf, $"kd_syscount loads here ({obj.Programs.Count} raw_tracepoint programs, per-CPU maps, {obj.CoreRelocations} CO-RE relocations): calls are summed in the kernel on raw_syscalls sys_enter/sys_exit", null);
        }
        catch (KernelDebugException e)
        {
            return (SyscallEngine.Ptrace, $"the BPF engine cannot load here ({e.Message})",
                e.Remedy ?? "Run pwsh as root, or grant CAP_BPF and CAP_PERFMON; Get-KernelDebugCapability Bpf* says what is missing.");
        }
    }
}
