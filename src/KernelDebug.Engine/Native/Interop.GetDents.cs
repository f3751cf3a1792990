using System.Buffers.Binary;
using System.Text;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const int O_DIRECTORY = 0x10000;

    /// <summary>
    /// The entry names of a directory through getdents64(2), without the per-entry stat that .NET's enumerator makes
    /// for symbolic links (every /proc/&lt;pid&gt;/fd entry is one). Null when the directory cannot be opened.
    /// </summary>
    internal static unsafe List<string>? ListDirectory(string path)
    {
        using var fd = TryOpen(path, O_RDONLY | O_DIRECTORY, out _);
        if (fd is null) return null;
        var names = new List<string>();
        var buffer = new byte[32768];
        while (true)
        {
            long n;
            fixed (byte* p = buffer)
            {
                do n = syscall(SyscallNumbers.Getdents64, fd.Fd, (nint)p, buffer.Length, 0, 0, 0);
                while (n < 0 && Errno.Last == Errno.EINTR);
            }
            if (n <= 0) break;
            // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
            for (int off = 0; off < n;)
            {
                int reclen = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(off + 16));
                var name = buffer.AsSpan(off + 19, reclen - 19);
                int nul = name.IndexOf((byte)0);
                if (nul >= 0) name = name[..nul];
                if (!(name.Length == 1 && name[0] == '.') && !(name.Length == 2 && name[0] == '.' && name[1] == '.'))
                    names.Add(Encoding.UTF8.GetString(name));
                off += reclen;
            }
        }
        return names;
    }
}
