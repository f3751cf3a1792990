using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "getsockname", SetLastError = true)]
    private static unsafe partial int getsockname(SafeHandle fd, byte* address, uint* length);

    /// <summary>getsockname(2): the socket's own address bytes (a sockaddr), or null.</summary>
    internal static unsafe byte[]? GetSockName(SafeHandle fd)
    {
        byte* buffer = stackalloc byte[128];
        uint length = 128;
        return getsockname(fd, buffer, &length) < 0 ? null : new ReadOnlySpan<byte>(buffer, (int)Math.Min(length, 128)).ToArray();
    }
}
