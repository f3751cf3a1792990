namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const ulong PERF_FLAG_FD_CLOEXEC = 8;

    /// <summary>perf_event_open(2): returns the event fd or -1 with errno set.</summary>
    internal static unsafe int perf_event_open(ref PerfEventAttr attr, int pid, int cpu, int groupFd, ulong flags)
    {
        attr.Size = PerfEventAttr.SizeVer8;
        fixed (PerfEventAttr* p = &attr)
            return (int)syscall(SyscallNumbers.PerfEventOpen, (nint)p, pid, cpu, groupFd, (nint)flags, 0);
    }

    /// <summary>Opens a perf event as a SafeHandle (close-on-exec); throws with the errno on failure.</summary>
    internal static SafeFileDescriptor PerfEventOpen(ref PerfEventAttr attr, int pid, int cpu, int groupFd = -1, string? what = null)
    {
        int fd = perf_event_open(ref attr, pid, cpu, groupFd, PERF_FLAG_FD_CLOEXEC);
        if (fd < 0) throw new KernelDebugException(Errno.Last, "perf_event_open", what);
        return new SafeFileDescriptor(fd);
    }

    /// <summary>Opens a perf event as a SafeHandle (close-on-exec); returns 0, or the errno with a null handle.</summary>
    internal static int TryPerfEventOpen(ref PerfEventAttr attr, int pid, int cpu, int groupFd, out SafeFileDescriptor? handle)
    {
        int fd = perf_event_open(ref attr, pid, cpu, groupFd, PERF_FLAG_FD_CLOEXEC);
        if (fd < 0) { handle = null; return Errno.Last; }
        handle = new SafeFileDescriptor(fd);
        return 0;
    }
}
