using System.Management.Automation;
using Microsoft.Win32.SafeHandles;
using KernelDebug.Native;

namespace KernelDebug.Host;

/// <summary>
/// Opens files the user or a recording names (perf.data, ELF files, log files) for reading only when they are
/// regular files: the open never blocks (O_NONBLOCK: a FIFO would wait for a writer), never takes a terminal
/// (O_NOCTTY), and the type is checked on the open descriptor (fstat), so nothing swapped in between is read.
/// A FIFO, a device (/dev/zero, /dev/tty), a directory or a socket is refused with a clear error.
/// </summary>
public static class RegularFile
{
    /// <summary>The open file and its size at open time; throws KernelDebugException (ErrorIds {idPrefix}NotFound, {idPrefix}AccessDenied, {idPrefix}NotARegularFile).</summary>
    public static (SafeFileHandle Handle, long Length) OpenRead(string path, string idPrefix, string what)
    {
        var handle = Open(path, out int errno, out ushort mode, out long length);
        if (handle is not null) return (handle, length);
        if (errno == 0)
            throw new KernelDebugException($"'{path}' is {TypeName(mode)}, not a regular file: the {what} must be a regular file.",
                idPrefix + "NotARegularFile", ErrorCategory.InvalidArgument) { Target = path };
        if (errno == Errno.ENOENT || errno == Errno.ENOTDIR)
            throw new KernelDebugException($"The {what} '{path}' does not exist.", idPrefix + "NotFound", ErrorCategory.ObjectNotFound) { Target = path };
        if (errno is Errno.EACCES or Errno.EPERM)
            throw new KernelDebugException($"The {what} '{path}' cannot be read ({Errno.Name(errno)}).", idPrefix + "AccessDenied", ErrorCategory.PermissionDenied)
            { Target = path, Remedy = "Check the file's permissions, or run pwsh as a user who may read it." };
        throw new KernelDebugException(errno, "open", path, idPrefix + "Unreadable");
    }

    /// <summary>The open file, or null when it is missing, unreadable or not a regular file (for best-effort readers such as symbol loading).</summary>
    public static SafeFileHandle? TryOpenRead(string path, out long length) => Open(path, out _, out _, out length);

    /// <summary>Whether the path is a FIFO (a stream such as perf record -o - | …; /dev/stdin of a pipe too), checked without opening it.</summary>
    public static bool IsPipe(string path)
    {
        // By path (statx follows symlinks): opening a FIFO to look would let a writer's data go when it is closed.
        if (string.IsNullOrEmpty(path) || path.Contains('\0')) return false;
        var mode = Interop.StatMode(path, out _);
        return mode is { } m && (m & Interop.S_IFMT) == Interop.S_IFIFO;
    }

    private static SafeFileHandle? Open(string path, out int errno, out ushort mode, out long length)
    {
        mode = 0;
        length = 0;
        if (string.IsNullOrEmpty(path) || path.Contains('\0')) { errno = Errno.ENOENT; return null; }
        var handle = Interop.TryOpenFileHandle(path, Interop.O_RDONLY | Interop.O_NONBLOCK | Interop.O_NOCTTY, out errno);
        if (handle is null) return null;
        var st = Interop.FStat(handle, out errno);
        if (st is null) { handle.Dispose(); return null; }
        mode = st.Value.Mode;
        if ((mode & Interop.S_IFMT) != Interop.S_IFREG) { handle.Dispose(); errno = 0; return null; }
        length = st.Value.Size;
        return handle;
    }

    private static string TypeName(ushort mode) => (mode & Interop.S_IFMT) switch
    {
        Interop.S_IFIFO => "a FIFO",
        Interop.S_IFCHR => "a character device",
        Interop.S_IFBLK => "a block device",
        Interop.S_IFDIR => "a directory",
        Interop.S_IFSOCK => "a socket",
        _ => "a special file",
    };
}
