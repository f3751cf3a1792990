using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "read", SetLastError = true)]
    internal static unsafe partial nint read(SafeFileDescriptor fd, byte* buffer, nuint count);

    /// <summary>read(2) into a span, retried on EINTR; returns bytes read (0 at end of file).</summary>
    internal static unsafe int Read(SafeFileDescriptor fd, Span<byte> buffer, string? target = null)
    {
        fixed (byte* p = buffer)
        {
            byte* ptr = p;
            int len = buffer.Length;
            return (int)Check(RetryOnEintr(() => read(fd, ptr, (nuint)len)), "read", target);
        }
    }

    /// <summary>read(2) retried on EINTR, returning 0 or the errno (EAGAIN, EPIPE…); the bytes read in <paramref name="count"/>.</summary>
    internal static unsafe int TryRead(SafeFileDescriptor fd, Span<byte> buffer, out int count)
    {
        fixed (byte* p = buffer)
        {
            byte* ptr = p;
            int len = buffer.Length;
            long n = RetryOnEintr(() => read(fd, ptr, (nuint)len));
            count = n < 0 ? 0 : (int)n;
            return n < 0 ? Errno.Last : 0;
        }
    }
}
