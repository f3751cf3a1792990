using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "getpeername", SetLastError = true)]
    private static unsafe partial int getpeername(SafeHandle fd, byte* address, uint* length);

    /// <summary>getpeername(2): the connected peer's address bytes (a sockaddr), or null (ENOTCONN for a listening or unconnected socket).</summary>
    internal static unsafe byte[]? GetPeerName(SafeHandle fd)
    {
        byte* buffer = stackalloc byte[128];
        uint length = 128;
        return getpeername(fd, buffer, &length) < 0 ? null : new ReadOnlySpan<byte>(buffer, (int)Math.Min(length, 128)).ToArray();
    }
}
