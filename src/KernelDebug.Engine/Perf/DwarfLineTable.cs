using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using ELFSharp.ELF;
using ELFSharp.ELF.Sections;

namespace KernelDebug.Perf;

/// <summary>
/// Address → source line from DWARF's .debug_line (line-number programs of versions 2 to 5, 32- and 64-bit DWARF,
/// zlib-compressed sections), looked up as binutils' addr2line does: the row with the greatest address at or below the
/// address, within its sequence; of several rows at one address the last wins.
/// No library served here reads version 5 line tables (LibObjectFile reads DWARF 4), so this is our own reader.
/// </summary>
public sealed class DwarfLineTable
{
    private readonly ulong[] _addresses;
    private readonly Row[] _rows;

    /// <summary>One row: its file (null for an end of sequence) and line.</summary>
    private readonly record struct Row(string? File, int Line);

    public static DwarfLineTable Empty { get; } = new(new List<(ulong, Row)>());

    private DwarfLineTable(List<(ulong Address, Row Row)> rows)
    {
        // Stable by address: within one address the program's order is kept, and the last row at it wins a lookup.
        var sorted = rows.Select((r, i) => (r, i)).OrderBy(x => x.r.Address).ThenBy(x => x.i).Select(x => x.r).ToList();
        var addresses = new List<ulong>(sorted.Count);
        var kept = new List<Row>(sorted.Count);
        foreach (var (address, row) in sorted)
        {
            if (addresses.Count > 0 && addresses[^1] == address)
            {
                // An end of sequence at an address where another sequence starts belongs to the one before.
                if (row.File is null && kept[^1].File is not null) continue;
                kept[^1] = row;
                continue;
            }
            addresses.Add(address);
            kept.Add(row);
        }
        _addresses = addresses.ToArray();
        _rows = kept.ToArray();
    }

    public int Count => _rows.Length;

    /// <summary>The file and line of an address, or null outside every sequence or on line 0.</summary>
    public (string File, int Line)? Find(ulong address)
    {
        int lo = 0, hi = _addresses.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_addresses[mid] <= address) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        if (found < 0 || _rows[found].File is not { } file || _rows[found].Line == 0) return null;
        return (file, _rows[found].Line);
    }

    /// <summary>The line table of an ELF file (empty without .debug_line); a corrupt table ends the read where it is.</summary>
    public static DwarfLineTable Load(IELF elf)
    {
        var line = SectionBytes(elf, ".debug_line");
        if (line is null || line.Length == 0) return Empty;
        var lineStr = SectionBytes(elf, ".debug_line_str");
        var str = SectionBytes(elf, ".debug_str");
        var rows = new List<(ulong, Row)>();
        int offset = 0;
        try
        {
            while (offset + 4 <= line.Length)
            {
                int next = ReadUnit(line, offset, lineStr, str, rows);
                if (next <= offset) break;
                offset = next;
            }
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentOutOfRangeException or OverflowException or InvalidDataException) { }
        return new DwarfLineTable(rows);
    }

    /// <summary>A section's contents, inflated when SHF_COMPRESSED (zlib, the only type gcc and ld write).</summary>
    private static byte[]? SectionBytes(IELF elf, string name)
    {
        if (!elf.TryGetSection(name, out var section)) return null;
        if (section.Type == SectionType.NoBits) return null;
        var bytes = section.GetContents();
        const ulong shfCompressed = 0x800;
        if (((ulong)section.Flags & shfCompressed) == 0) return bytes;
        bool is64 = elf.Class == Class.Bit64;
        int headerSize = is64 ? 24 : 12;
        if (bytes.Length < headerSize || BinaryPrimitives.ReadUInt32LittleEndian(bytes) != 1) return null;
        long size = is64 ? (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(8)) : BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4));
        if (size is < 0 or > 1L << 30) return null;
        var output = new byte[size];
        using var z = new ZLibStream(new MemoryStream(bytes, headerSize, bytes.Length - headerSize), CompressionMode.Decompress);
        z.ReadExactly(output);
        return output;
    }

    private static int ReadUnit(byte[] d, int start, byte[]? lineStr, byte[]? str, List<(ulong, Row)> rows)
    {
        int p = start;
        ulong unitLength = U32(d, ref p);
        bool dwarf64 = unitLength == 0xffffffff;
        if (dwarf64) unitLength = U64(d, ref p);
        if (unitLength > (ulong)(d.Length - p)) throw new InvalidDataException("unit beyond the section");
        int end = p + (int)unitLength;
        int version = U16(d, ref p);
        if (version is < 2 or > 5) return end;
        int addressSize = 8;
        if (version >= 5) { addressSize = d[p++]; p++; }
        ulong headerLength = dwarf64 ? U64(d, ref p) : U32(d, ref p);
        int program = checked(p + (int)headerLength);
        int minInstLength = d[p++];
        if (version >= 4) p++; // maximum_operations_per_instruction: VLIW only
        bool defaultIsStmt = d[p++] != 0;
        _ = defaultIsStmt;
        sbyte lineBase = (sbyte)d[p++];
        int lineRange = d[p++];
        int opcodeBase = d[p++];
        if (lineRange == 0) return end;
        var opcodeLengths = new int[Math.Max(opcodeBase, 1)];
        for (int i = 1; i < opcodeBase; i++) opcodeLengths[i] = d[p++];

        var dirs = new List<string>();
        var files = new List<string>();
        if (version >= 5)
        {
            foreach (var (name, dir) in EntryTable(d, ref p, dwarf64, lineStr, str)) dirs.Add(name);
            foreach (var (name, dir) in EntryTable(d, ref p, dwarf64, lineStr, str)) files.Add(Join(dirs, dir, name));
        }
        else
        {
            dirs.Add(string.Empty); // entry 0 is the compilation directory, named only in .debug_info
            while (d[p] != 0) dirs.Add(CString(d, ref p));
            p++;
            files.Add(string.Empty); // file numbers count from 1 before version 5
            while (d[p] != 0)
            {
                var name = CString(d, ref p);
                int dir = (int)Uleb(d, ref p);
                Uleb(d, ref p); Uleb(d, ref p);
                files.Add(Join(dirs, dir, name));
            }
        }

        p = program;
        ulong address = 0;
        int file = 1, line = 1;
        string? FileName(int i) => i >= 0 && i < files.Count ? files[i] : null;
        void Emit(bool endSequence) => rows.Add((address, new Row(endSequence ? null : FileName(file) ?? "??", line)));
        void Reset() { address = 0; file = 1; line = 1; }
        while (p < end)
        {
            int op = d[p++];
            if (op >= opcodeBase)
            {
                int adj = op - opcodeBase;
                address += (ulong)(adj / lineRange * minInstLength);
                line += lineBase + adj % lineRange;
                Emit(false);
                continue;
            }
            switch (op)
            {
                case 0:
                    {
                        int len = (int)Uleb(d, ref p);
                        int next = p + len;
                        if (len == 0) break;
                        int sub = d[p++];
                        switch (sub)
                        {
                            case 1: Emit(true); Reset(); break;
                            case 2: address = addressSize == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(p)) : BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(p)); break;
                            case 3:
                                {
                                    int q = p;
                                    var name = CString(d, ref q);
                                    int dir = (int)Uleb(d, ref q);
                                    files.Add(Join(dirs, dir, name));
                                    break;
                                }
                        }
                        p = next;
                        break;
                    }
                case 1: Emit(false); break;
                case 2: address += Uleb(d, ref p) * (ulong)minInstLength; break;
                case 3: line += (int)Sleb(d, ref p); break;
                case 4: file = (int)Uleb(d, ref p); break;
                case 5: Uleb(d, ref p); break;
                case 6: case 7: case 10: case 11: break;
                case 8: address += (ulong)((255 - opcodeBase) / lineRange * minInstLength); break;
                case 9: address += U16(d, ref p); break;
                case 12: Uleb(d, ref p); break;
                default:
                    for (int i = 0; i < opcodeLengths[op]; i++) Uleb(d, ref p);
                    break;
            }
        }
        return end;
    }

    private static string Join(List<string> dirs, int dir, string name)
    {
        if (name.StartsWith('/') || dir < 0 || dir >= dirs.Count || dirs[dir].Length == 0) return name;
        return dirs[dir].EndsWith('/') ? dirs[dir] + name : dirs[dir] + "/" + name;
    }

    // DWARF 5's self-describing directory and file tables: each entry's path and directory index, by its formats.
    private static List<(string Name, int Dir)> EntryTable(byte[] d, ref int p, bool dwarf64, byte[]? lineStr, byte[]? str)
    {
        int formatCount = d[p++];
        var formats = new (ulong Content, ulong Form)[formatCount];
        for (int i = 0; i < formatCount; i++) formats[i] = (Uleb(d, ref p), Uleb(d, ref p));
        ulong count = Uleb(d, ref p);
        var list = new List<(string, int)>();
        for (ulong n = 0; n < count; n++)
        {
            string name = string.Empty;
            int dir = 0;
            foreach (var (content, form) in formats)
            {
                string? s = null;
                ulong value = 0;
                switch (form)
                {
                    case 0x08: s = CString(d, ref p); break;                                           // string
                    case 0x1f: s = StringAt(lineStr, dwarf64 ? U64(d, ref p) : U32(d, ref p)); break;  // line_strp
                    case 0x0e: s = StringAt(str, dwarf64 ? U64(d, ref p) : U32(d, ref p)); break;      // strp
                    case 0x0b: value = d[p++]; break;                                                  // data1
                    case 0x05: value = U16(d, ref p); break;                                           // data2
                    case 0x06: value = U32(d, ref p); break;                                           // data4
                    case 0x07: value = U64(d, ref p); break;                                           // data8
                    case 0x1e: p += 16; break;                                                         // data16 (MD5)
                    case 0x0f: value = Uleb(d, ref p); break;                                          // udata
                    case 0x09: p += (int)Uleb(d, ref p); break;                                        // block
                    case 0x1a: Uleb(d, ref p); break;                                                  // strx: needs .debug_str_offsets' base
                    case 0x25: p += 1; break;
                    case 0x26: p += 2; break;
                    case 0x27: p += 3; break;
                    case 0x28: p += 4; break;
                    default: throw new InvalidDataException($"form 0x{form:x} in a line table header");
                }
                if (content == 1 && s is not null) name = s;          // DW_LNCT_path
                else if (content == 2) dir = (int)value;              // DW_LNCT_directory_index
            }
            list.Add((name, dir));
        }
        return list;
    }

    private static string StringAt(byte[]? section, ulong offset)
    {
        if (section is null || offset >= (ulong)section.Length) return "??";
        int p = (int)offset;
        return CString(section, ref p);
    }

    private static string CString(byte[] d, ref int p)
    {
        int end = Array.IndexOf(d, (byte)0, p);
        if (end < 0) throw new InvalidDataException("unterminated string");
        var s = Encoding.UTF8.GetString(d, p, end - p);
        p = end + 1;
        return s;
    }

    private static ushort U16(byte[] d, ref int p) { var v = BinaryPrimitives.ReadUInt16LittleEndian(d.AsSpan(p)); p += 2; return v; }
    private static uint U32(byte[] d, ref int p) { var v = BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(p)); p += 4; return v; }
    private static ulong U64(byte[] d, ref int p) { var v = BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(p)); p += 8; return v; }

    private static ulong Uleb(byte[] d, ref int p)
    {
        ulong result = 0;
        int shift = 0;
        while (true)
        {
            byte b = d[p++];
            if (shift < 64) result |= (ulong)(b & 0x7f) << shift;
            shift += 7;
            if ((b & 0x80) == 0) return result;
        }
    }

    private static long Sleb(byte[] d, ref int p)
    {
        long result = 0;
        int shift = 0;
        byte b;
        do
        {
            b = d[p++];
            if (shift < 64) result |= (long)(b & 0x7f) << shift;
            shift += 7;
        } while ((b & 0x80) != 0);
        if (shift < 64 && (b & 0x40) != 0) result |= -1L << shift;
        return result;
    }
}
