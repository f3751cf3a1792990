using System.Management.Automation;
using ELFSharp.ELF;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Probes;

/// <summary>
/// The one way the module opens ELF files (uprobe placement, library-call probes, perf symbolization): regular files
/// only (a FIFO named by a recording must not hang the decode, /dev/tty or /proc/PID/mem must not be read), and
/// whatever a corrupt file makes the ELF reader throw turned into one clean error, CorruptElf (InvalidData).
/// </summary>
public static class ElfInput
{
    /// <summary>The parsed file and its size, or null when it is missing, unreadable, not a regular file or not ELF.</summary>
    public static IELF? TryLoad(string path, out long length)
    {
        var handle = RegularFile.TryOpenRead(path, out length);
        if (handle is null) return null;
        var stream = new FileStream(handle, FileAccess.Read, 1);
        try
        {
            if (ELFReader.TryLoad(stream, shouldOwnStream: true, out IELF? elf)) return elf;
        }
        catch (Exception e) when (IsCorruption(e)) { }
        stream.Dispose();
        return null;
    }

    /// <summary>What a corrupt ELF file makes the reader (ELFSharp) or our own table reading throw.</summary>
    public static bool IsCorruption(Exception e) => e is IndexOutOfRangeException or ArgumentException or OverflowException
        or EndOfStreamException or IOException or InvalidOperationException or NullReferenceException or KeyNotFoundException
        or InvalidCastException or NotSupportedException or FormatException or DivideByZeroException or OutOfMemoryException
        or System.Text.DecoderFallbackException;

    public static KernelDebugException Corrupt(string path, Exception inner) =>
        new($"'{path}' is a corrupt ELF file: {inner.Message}", "CorruptElf", ErrorCategory.InvalidData, inner) { Target = path };
}
