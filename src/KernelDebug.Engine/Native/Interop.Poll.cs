using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const short POLLIN = 0x1, POLLPRI = 0x2, POLLOUT = 0x4, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20;

    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport(Libc, EntryPoint = "poll", SetLastError = true)]
    internal static unsafe partial int poll(PollFd* fds, nuint count, int timeoutMilliseconds);

    /// <summary>poll(2) retried on EINTR (with the full timeout again), returning 0 or the errno; the ready count in <paramref name="ready"/>.</summary>
    internal static unsafe int TryPoll(PollFd* fds, nuint count, int timeoutMilliseconds, out int ready)
    {
        int r;
        do { r = poll(fds, count, timeoutMilliseconds); } while (r < 0 && Errno.Last == Errno.EINTR);
        ready = r < 0 ? 0 : r;
        return r < 0 ? Errno.Last : 0;
    }
}
