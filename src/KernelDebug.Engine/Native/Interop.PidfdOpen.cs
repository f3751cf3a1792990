namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const int PIDFD_THREAD = 0x80; // O_EXCL: a pidfd for a thread that is not the group leader (Linux 6.9)

    /// <summary>pidfd_open(2): a pidfd for the task in a SafeHandle, or null with the errno.</summary>
    internal static SafeFileDescriptor? PidfdOpen(int pid, int flags, out int errno)
    {
        long r = syscall(SyscallNumbers.PidfdOpen, pid, flags, 0, 0, 0, 0);
        errno = r < 0 ? Errno.Last : 0;
        return r < 0 ? null : new SafeFileDescriptor((int)r);
    }
}
