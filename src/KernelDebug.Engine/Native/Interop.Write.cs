using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "write", SetLastError = true)]
    internal static unsafe partial nint write(SafeFileDescriptor fd, byte* buffer, nuint count);

    /// <summary>One write(2) of the whole buffer, retried on EINTR. A kernel control file takes one definition per write.</summary>
    internal static unsafe int Write(SafeFileDescriptor fd, ReadOnlySpan<byte> buffer, string? target = null)
    {
        fixed (byte* p = buffer)
        {
            byte* ptr = p;
            int len = buffer.Length;
            return (int)Check(RetryOnEintr(() => write(fd, ptr, (nuint)len)), "write", target);
        }
    }
}
