using System.Runtime.InteropServices;
using System.Text;

namespace KernelDebug.Native;

internal static partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "getxattr", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial nint getxattr(string path, string name, byte* value, nuint size);

    /// <summary>An extended attribute as text (trailing NUL dropped), or null when absent or unreadable.</summary>
    internal static unsafe string? GetXattrText(string path, string name)
    {
        byte* buffer = stackalloc byte[256];
        nint n = getxattr(path, name, buffer, 256);
        if (n <= 0) return null;
        var span = new ReadOnlySpan<byte>(buffer, (int)n);
        int nul = span.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul >= 0 ? span[..nul] : span);
    }
}
