using System.Globalization;
using ELFSharp.ELF;
using ELFSharp.ELF.Sections;

namespace KernelDebug.Perf.Unwind;

/// <summary>
/// The ELF sections DWARF unwinding reads (.eh_frame, .eh_frame_hdr, .debug_frame, each with its link-time address),
/// the machine, and the PT_LOAD map from file offsets to addresses. The only place the unwinder touches the ELF
/// reader: built from an ELFSharp ELF here, or from raw section bytes (tests, another ELF layer).
/// </summary>
public sealed class EhFrameSource
{
    public EhFrameSource(UnwindArch arch, Symbols.ElfLoadMap loads, byte[]? ehFrame, ulong ehFrameAddress, byte[]? ehFrameHdr, ulong ehFrameHdrAddress,
        byte[]? debugFrame, string? buildId)
    {
        Arch = arch; Loads = loads; EhFrame = ehFrame; EhFrameAddress = ehFrameAddress; EhFrameHdr = ehFrameHdr; EhFrameHdrAddress = ehFrameHdrAddress;
        DebugFrame = debugFrame; BuildId = buildId;
    }

    public UnwindArch Arch { get; }
    public Symbols.ElfLoadMap Loads { get; }
    public byte[]? EhFrame { get; }
    public ulong EhFrameAddress { get; }
    public byte[]? EhFrameHdr { get; }
    public ulong EhFrameHdrAddress { get; }
    public byte[]? DebugFrame { get; }
    public string? BuildId { get; }

    public static EhFrameSource Empty { get; } = new(UnwindArch.X64, Symbols.ElfLoadMap.Empty, null, 0, null, 0, null, null);

    /// <summary>The sections of a file; a missing, corrupt or foreign file gives an empty source (no unwinding through it).</summary>
    public static EhFrameSource Load(string path)
    {
        var elf = Symbols.ElfFile.TryLoadRaw(path, out long length);
        if (elf is null) return Empty;
        try
        {
            using (elf) return FromElf(elf, length);
        }
        catch (Exception e) when (Symbols.ElfFile.IsCorruption(e)) { return Empty; }
    }

    /// <summary>The sections of an ELF image in memory (the vDSO).</summary>
    public static EhFrameSource FromImage(byte[] image)
    {
        try
        {
            if (!ELFReader.TryLoad(new MemoryStream(image), true, out IELF? elf)) return Empty;
            using (elf) return FromElf(elf, image.Length);
        }
        catch (Exception e) when (Symbols.ElfFile.IsCorruption(e)) { return Empty; }
    }

    public static EhFrameSource FromElf(IELF elf, long length)
    {
        UnwindArch? arch = elf.Machine switch
        {
            Machine.AMD64 => UnwindArch.X64,
            Machine.AArch64 => UnwindArch.Arm64,
            _ => null,
        };
        if (arch is null || elf.Class != Class.Bit64) return Empty;
        var loads = Symbols.ElfLoadMap.Of(elf, length);
        var (eh, ehAddr) = Section(elf, ".eh_frame");
        var (hdr, hdrAddr) = Section(elf, ".eh_frame_hdr");
        var (dbg, _) = Section(elf, ".debug_frame");
        string? id = elf.TryGetSection(".note.gnu.build-id", out var s) && s is INoteSection note && note.Description is { Length: > 0 } d
            ? Convert.ToHexString(d).ToLowerInvariant() : null;
        return new EhFrameSource(arch.Value, loads, eh, ehAddr, hdr, hdrAddr, dbg, id);
    }

    private static (byte[]?, ulong) Section(IELF elf, string name)
    {
        // SHT_NOBITS (a stripped debug file's placeholder) has no contents.
        if (!elf.TryGetSection(name, out var s) || s.Type == SectionType.NoBits || s is not Section<ulong> section) return (null, 0);
        var bytes = section.GetContents();
        return (bytes.Length == 0 ? null : bytes, section.LoadAddress);
    }

    /// <summary>This process's vDSO image (the kernel maps the same one into every process of one ABI), as perf reads it.</summary>
    public static byte[]? ReadOwnVdso()
    {
        try
        {
            var line = File.ReadLines("/proc/self/maps").FirstOrDefault(l => l.EndsWith("[vdso]", StringComparison.Ordinal));
            if (line is null) return null;
            var range = line.Split(' ')[0].Split('-');
            long start = long.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture), end = long.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            var image = new byte[end - start];
            using var mem = new FileStream("/proc/self/mem", FileMode.Open, FileAccess.Read);
            mem.Seek(start, SeekOrigin.Begin);
            mem.ReadExactly(image);
            return image;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
