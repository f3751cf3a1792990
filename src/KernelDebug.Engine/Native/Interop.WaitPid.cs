using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const int WNOHANG = 1, WUNTRACED = 2, WCONTINUED = 8, __WALL = 0x40000000;

    [LibraryImport(Libc, EntryPoint = "waitpid", SetLastError = true)]
    internal static unsafe partial int waitpid(int pid, int* status, int options);

    /// <summary>waitpid(2) retried on EINTR; returns the pid (0 with WNOHANG when nothing changed) or -1 with errno.</summary>
    internal static unsafe int WaitPid(int pid, out WaitStatus status, int options)
    {
        int raw = 0, r;
        do { r = waitpid(pid, &raw, options); } while (r < 0 && Errno.Last == Errno.EINTR);
        status = new WaitStatus(raw);
        return r;
    }

    /// <summary>waitpid(2) retried on EINTR, returning 0 or the errno (ECHILD: no tracee or child left); the pid in <paramref name="pidOut"/>.</summary>
    internal static int TryWaitPid(int pid, out WaitStatus status, int options, out int pidOut)
    {
        pidOut = WaitPid(pid, out status, options);
        return pidOut < 0 ? Errno.Last : 0;
    }
}

/// <summary>A decoded wait(2) status.</summary>
public readonly record struct WaitStatus(int Raw)
{
    public bool Exited => (Raw & 0x7f) == 0;
    public int ExitCode => (Raw >> 8) & 0xff;
    public bool Signaled => ((Raw & 0x7f) + 1) >> 1 > 0 && !Exited && !Stopped;
    public int TermSignal => Raw & 0x7f;
    public bool CoreDumped => (Raw & 0x80) != 0;
    public bool Stopped => (Raw & 0xff) == 0x7f;
    public int StopSignal => (Raw >> 8) & 0xff;
    /// <summary>The ptrace event of a stop (PTRACE_EVENT_*), in bits 16-23.</summary>
    public int PtraceEvent => (Raw >> 16) & 0xff;

    public override string ToString() =>
        Exited ? $"exited {ExitCode}" : Stopped ? $"stopped by signal {StopSignal}" : $"killed by signal {TermSignal}{(CoreDumped ? " (core dumped)" : "")}";
}
