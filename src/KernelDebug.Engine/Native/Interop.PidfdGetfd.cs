namespace KernelDebug.Native;

internal static partial class Interop
{
    /// <summary>pidfd_getfd(2) (Linux 5.6): a copy of another process's fd in this one, or null with the errno.</summary>
    internal static SafeFileDescriptor? PidfdGetfd(SafeFileDescriptor pidfd, int targetFd, out int errno)
    {
        bool added = false;
        pidfd.DangerousAddRef(ref added);
        try
        {
            long r = syscall(SyscallNumbers.PidfdGetfd, pidfd.DangerousGetHandle(), targetFd, 0, 0, 0, 0);
            errno = r < 0 ? Errno.Last : 0;
            return r < 0 ? null : new SafeFileDescriptor((int)r);
        }
        finally { if (added) pidfd.DangerousRelease(); }
    }
}
