namespace KernelDebug.Syscall;

/// <summary>
/// Which engine traces syscalls. Auto picks Bpf where the host can run it (bpf(), the ring buffer, tracepoint attach,
/// the privilege) and no requested option needs ptrace; otherwise Ptrace. See <see cref="SyscallEngineSelector"/>.
/// </summary>
public enum SyscallEngine
{
    /// <summary>Bpf when it works here and the options allow it, else Ptrace.</summary>
    Auto,
    /// <summary>kd_syscalls.bpf.o on raw_syscalls: a few times bare speed, the tracee never stopped, records can be lost.</summary>
    Bpf,
    /// <summary>ptrace, as strace: every call stops the tracee; nothing is lost; signals and ptrace-only options.</summary>
    Ptrace,
}
