using ELFSharp.ELF;
using ELFSharp.ELF.Segments;

namespace KernelDebug.Symbols;

/// <summary>
/// The PT_LOAD segments of an ELF file (32- or 64-bit): link-time virtual address to file offset and back. The one
/// translation shared by uprobe placement (symbol address to the file offset a uprobe takes, as perf probe -x) and
/// perf's symbolization (a mapping's file offset to the address the symbols use). Executable segments are tried first.
/// </summary>
public sealed class ElfLoadMap
{
    private readonly (ulong Address, ulong FileSize, ulong Offset, bool Executable)[] _loads;

    private ElfLoadMap((ulong, ulong, ulong, bool)[] loads) => _loads = loads;

    public static ElfLoadMap Empty { get; } = new(Array.Empty<(ulong, ulong, ulong, bool)>());

    /// <summary>The PT_LOAD segments that lie inside the file (length bytes) and whose addresses do not wrap; others are corrupt and left out.</summary>
    internal static ElfLoadMap Of(IELF elf, long length)
    {
        var loads = elf switch
        {
            ELF<ulong> e64 => e64.Segments.Where(s => s.Type == SegmentType.Load)
                .Select(s => (s.Address, (ulong)s.FileSize, (ulong)s.Offset, (s.Flags & SegmentFlags.Execute) != 0)),
            ELF<uint> e32 => e32.Segments.Where(s => s.Type == SegmentType.Load)
                .Select(s => ((ulong)s.Address, (ulong)s.FileSize, (ulong)s.Offset, (s.Flags & SegmentFlags.Execute) != 0)),
            _ => Enumerable.Empty<(ulong, ulong, ulong, bool)>(),
        };
        return new ElfLoadMap(loads.Where(l => l.Item3 <= (ulong)length && l.Item2 <= (ulong)length - l.Item3 && l.Item1 + l.Item2 >= l.Item1)
            .OrderByDescending(l => l.Item4).ToArray());
    }

    /// <summary>True when the file has an interpreter (PT_INTERP): an executable, or a PIE (or glibc's libc.so.6).</summary>
    internal static bool HasInterpreter(IELF elf) => elf.Segments.Any(s => s.Type == SegmentType.Interpreter);

    /// <summary>The segments kept (inside the file), executable ones first.</summary>
    internal IReadOnlyList<(ulong Address, ulong FileSize, ulong Offset, bool Executable)> Segments => _loads;

    /// <summary>The file offset of a link-time virtual address: inside which PT_LOAD, minus its address, plus its offset.</summary>
    public ulong? ToFileOffset(ulong address)
    {
        foreach (var l in _loads)
            if (address >= l.Address && address < l.Address + l.FileSize) return address - l.Address + l.Offset;
        return null;
    }

    /// <summary>True when the file offset lies in an executable PT_LOAD segment (where a uprobe can be hit).</summary>
    public bool IsExecutable(ulong fileOffset) =>
        _loads.Any(l => l.Executable && fileOffset >= l.Offset && fileOffset < l.Offset + l.FileSize);

    /// <summary>The link-time virtual address of a file offset (inverse of ToFileOffset).</summary>
    public ulong? ToAddress(ulong fileOffset)
    {
        foreach (var l in _loads)
            if (fileOffset >= l.Offset && fileOffset < l.Offset + l.FileSize) return fileOffset - l.Offset + l.Address;
        return null;
    }
}
