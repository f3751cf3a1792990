using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const int AT_FDCWD = -100;
    internal const uint STATX_TYPE = 0x1, STATX_MODE = 0x2;
    internal const ushort S_IFMT = 0xF000, S_IFREG = 0x8000, S_IFDIR = 0x4000;

    // struct statx has one layout on every architecture (unlike struct stat); 256 bytes, stx_mode (u16) at offset 28.
    internal const int StatxSize = 256, StatxModeOffset = 28;

    [LibraryImport(Libc, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    /// <summary>The st_mode of a path (symlinks followed), or null with the errno.</summary>
    internal static unsafe ushort? StatMode(string path, out int errno)
    {
        byte* buffer = stackalloc byte[StatxSize];
        int r = statx(AT_FDCWD, path, 0, STATX_TYPE | STATX_MODE, buffer);
        errno = r < 0 ? Errno.Last : 0;
        return r < 0 ? null : *(ushort*)(buffer + StatxModeOffset);
    }
}
