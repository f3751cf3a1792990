using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_NOCTTY = 0x100,
        O_TRUNC = 0x200, O_APPEND = 0x400, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000, O_NOFOLLOW = 0x20000;

    [LibraryImport(Libc, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int open(string path, int flags, int mode);

    /// <summary>open(2) with O_CLOEXEC, as a SafeHandle; throws KernelDebugException on failure.</summary>
    internal static SafeFileDescriptor Open(string path, int flags, int mode = 0)
    {
        int fd = (int)RetryOnEintr(() => open(path, flags | O_CLOEXEC, mode));
        if (fd < 0) throw new KernelDebugException(Errno.Last, "open", path);
        return new SafeFileDescriptor(fd);
    }

    /// <summary>open(2) with O_CLOEXEC as a SafeFileHandle (for FileStream), returning the errno instead of throwing.</summary>
    internal static Microsoft.Win32.SafeHandles.SafeFileHandle? TryOpenFileHandle(string path, int flags, out int errno)
    {
        int fd = (int)RetryOnEintr(() => open(path, flags | O_CLOEXEC, 0));
        errno = fd < 0 ? Errno.Last : 0;
        return fd < 0 ? null : new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>open(2) returning the errno instead of throwing (for probes).</summary>
    internal static SafeFileDescriptor? TryOpen(string path, int flags, out int errno)
    {
        int fd = (int)RetryOnEintr(() => open(path, flags | O_CLOEXEC, 0));
        errno = fd < 0 ? Errno.Last : 0;
        return fd < 0 ? null : new SafeFileDescriptor(fd);
    }
}
