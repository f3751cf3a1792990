using System.Runtime.InteropServices;
using System.Text;

namespace KernelDebug.Native;

internal static partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "readlink", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static unsafe partial nint readlink(string path, byte* buffer, nuint size);

    /// <summary>readlink(2) into a caller's buffer: the target's bytes, or an empty span when the link cannot be read.</summary>
    internal static unsafe ReadOnlySpan<byte> ReadLink(string path, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            nint n = readlink(path, p, (nuint)buffer.Length);
            return n <= 0 ? ReadOnlySpan<byte>.Empty : buffer[..(int)n];
        }
    }
}
