using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_EMPTY_PATH = 0x1000;
    internal const uint STATX_TYPE = 0x1, STATX_MODE = 0x2, STATX_INO = 0x100, STATX_SIZE = 0x200, STATX_UID = 0x8;
    internal const ushort S_IFMT = 0xF000, S_IFREG = 0x8000, S_IFDIR = 0x4000, S_IFCHR = 0x2000, S_IFBLK = 0x6000, S_IFIFO = 0x1000,
        S_IFLNK = 0xA000, S_IFSOCK = 0xC000;

    // struct statx has one layout on every architecture (unlike struct stat); 256 bytes, stx_mode (u16) at offset 28,
    // stx_uid (u32) at 20, stx_ino (u64) at 32, stx_size (u64) at 40.
    internal const int StatxSize = 256, StatxModeOffset = 28, StatxInoOffset = 32, StatxSizeOffset = 40, StatxUidOffset = 20;

    [LibraryImport(Libc, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport(Libc, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int statx(SafeHandle dirfd, string path, int flags, uint mask, byte* buffer);

    /// <summary>What an open file is (fstat): its type and mode, inode and size; null with the errno.</summary>
    internal static unsafe (ushort Mode, ulong Inode, long Size, uint Uid)? FStat(SafeHandle fd, out int errno)
    {
        byte* buffer = stackalloc byte[StatxSize];
        int r = statx(fd, string.Empty, AT_EMPTY_PATH, STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE | STATX_UID, buffer);
        errno = r < 0 ? Errno.Last : 0;
        return r < 0 ? null : (*(ushort*)(buffer + StatxModeOffset), *(ulong*)(buffer + StatxInoOffset), *(long*)(buffer + StatxSizeOffset), *(uint*)(buffer + StatxUidOffset));
    }

    internal const uint STATX_MTIME = 0x40;

    /// <summary>
    /// What tells one version of an open file from another: device, inode, size and modification time (ns); null on
    /// failure. stx_mtime (tv_sec s64, tv_nsec u32) is at 112, stx_dev_major/minor at 136/140.
    /// </summary>
    internal static unsafe (ulong Device, ulong Inode, long Size, long ModifiedNs)? FStatVersion(SafeHandle fd)
    {
        byte* buffer = stackalloc byte[StatxSize];
        if (statx(fd, string.Empty, AT_EMPTY_PATH, STATX_INO | STATX_SIZE | STATX_MTIME, buffer) < 0) return null;
        ulong device = ((ulong)*(uint*)(buffer + 136) << 32) | *(uint*)(buffer + 140);
        long modified = *(long*)(buffer + 112) * 1_000_000_000L + *(uint*)(buffer + 120);
        return (device, *(ulong*)(buffer + StatxInoOffset), *(long*)(buffer + StatxSizeOffset), modified);
    }

    /// <summary>The device (major, minor) and inode of an open file, as /proc/locks names it; null on failure.</summary>
    internal static unsafe (uint Major, uint Minor, ulong Inode)? FStatDevice(SafeHandle fd)
    {
        // stx_dev_major (u32) at 136, stx_dev_minor at 140.
        byte* buffer = stackalloc byte[StatxSize];
        if (statx(fd, string.Empty, AT_EMPTY_PATH, STATX_INO, buffer) < 0) return null;
        return (*(uint*)(buffer + 136), *(uint*)(buffer + 140), *(ulong*)(buffer + StatxInoOffset));
    }

    /// <summary>The inode of a path without following a final symlink, or null.</summary>
    internal static unsafe ulong? LStatInode(string path)
    {
        byte* buffer = stackalloc byte[StatxSize];
        return statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_INO, buffer) < 0 ? null : *(ulong*)(buffer + StatxInoOffset);
    }

    /// <summary>The st_mode of a path (symlinks followed), or null with the errno.</summary>
    internal static unsafe ushort? StatMode(string path, out int errno)
    {
        byte* buffer = stackalloc byte[StatxSize];
        int r = statx(AT_FDCWD, path, 0, STATX_TYPE | STATX_MODE, buffer);
        errno = r < 0 ? Errno.Last : 0;
        return r < 0 ? null : *(ushort*)(buffer + StatxModeOffset);
    }

    /// <summary>A path's type and, for a device, its (major, minor) from stx_rdev (at 128 and 132); null when stat fails.</summary>
    internal static unsafe (ushort Mode, uint RdevMajor, uint RdevMinor)? StatRawDevice(string path)
    {
        byte* buffer = stackalloc byte[StatxSize];
        if (statx(AT_FDCWD, path, 0, STATX_TYPE, buffer) < 0) return null;
        return (*(ushort*)(buffer + StatxModeOffset), *(uint*)(buffer + 128), *(uint*)(buffer + 132));
    }
}
