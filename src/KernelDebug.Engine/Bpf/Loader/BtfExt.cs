using System.Buffers.Binary;
using System.Management.Automation;
using System.Text;
using KernelDebug.Native;

namespace KernelDebug.Bpf;

/// <summary>One .BTF.ext record: Insn is the instruction index in its function once distributed; A..C the rest of the record.</summary>
internal struct BtfExtRecord
{
    public int Insn;
    public uint A, B, C;
}

/// <summary>
/// .BTF.ext (func_info, line_info, CO-RE relocations), grouped by section name; Distribute hands each record to
/// the function holding its instruction, with the instruction index made relative to that function.
/// </summary>
internal sealed class BtfExt
{
    public readonly List<(string Section, BtfExtRecord Rec)> Funcs = new(), Lines = new(), Core = new();
    private byte[] _btf = System.Array.Empty<byte>();

    public static BtfExt Parse(byte[] ext, byte[] btf)
    {
        static KernelDebugException Bad(string why) => new($"Malformed .BTF.ext: {why}.", "BtfMalformed", ErrorCategory.InvalidData);
        if (ext.Length < 24 || BinaryPrimitives.ReadUInt16LittleEndian(ext) != BtfSpec.Magic) throw Bad("no magic");
        uint hdr = U32(ext, 4);
        var r = new BtfExt { _btf = btf };
        r.ReadSection(ext, hdr, U32(ext, 8), U32(ext, 12), r.Funcs, 8);
        r.ReadSection(ext, hdr, U32(ext, 16), U32(ext, 20), r.Lines, 16);
        if (hdr >= 32) r.ReadSection(ext, hdr, U32(ext, 24), U32(ext, 28), r.Core, 16);
        return r;
    }

    private static uint U32(byte[] b, long at) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan((int)at));

    private void ReadSection(byte[] ext, uint hdr, uint off, uint len, List<(string, BtfExtRecord)> into, int minRec)
    {
        if (len == 0) return;
        long p = hdr + off, end = p + len;
        if (end > ext.Length) throw new KernelDebugException("Malformed .BTF.ext: a section runs past the end.", "BtfMalformed", ErrorCategory.InvalidData);
        uint recSize = U32(ext, p); p += 4;
        if (recSize < minRec) throw new KernelDebugException($"Malformed .BTF.ext: records of {recSize} bytes.", "BtfMalformed", ErrorCategory.InvalidData);
        while (p + 8 <= end)
        {
            string sec = Str(U32(ext, p));
            uint n = U32(ext, p + 4); p += 8;
            for (uint i = 0; i < n && p + recSize <= end; i++, p += recSize)
                into.Add((sec, new BtfExtRecord
                {
                    Insn = (int)U32(ext, p), A = U32(ext, p + 4), B = minRec > 8 ? U32(ext, p + 8) : 0, C = minRec > 12 ? U32(ext, p + 12) : 0,
                }));
        }
    }

    /// <summary>A string of the object's BTF string table.</summary>
    public string Str(uint off)
    {
        uint hdr = U32(_btf, 4), strOff = U32(_btf, 16);
        long at = hdr + strOff + off;
        if (at >= _btf.Length) return "";
        int e = System.Array.IndexOf(_btf, (byte)0, (int)at);
        return Encoding.UTF8.GetString(_btf, (int)at, (e < 0 ? _btf.Length : e) - (int)at);
    }

    public void Distribute(BpfObjectSpec spec, List<string> sectionNames)
    {
        void Give(List<(string Section, BtfExtRecord Rec)> all, Func<BpfFunction, List<BtfExtRecord>> list)
        {
            foreach (var (secName, rec) in all)
            {
                int sec = sectionNames.IndexOf(secName);
                long insn = rec.Insn / 8;
                var fn = spec.Functions.FirstOrDefault(f => f.Contains(sec, insn));
                if (fn is null) continue;
                var r = rec;
                r.Insn = (int)(insn - (long)fn.Offset / 8);
                list(fn).Add(r);
            }
        }
        Give(Funcs, f => f.FuncInfo);
        Give(Lines, f => f.LineInfo);
        Give(Core, f => f.CoreRelos);
    }
}

/// <summary>
/// Makes an object's BTF acceptable to the kernel: clang leaves DATASEC sizes and variable offsets for the linker, so
/// they are filled from the ELF sections and symbols (and the variables sorted by offset), as libbpf does.
/// </summary>
internal static class BtfFixup
{
    public static byte[] ForKernel(byte[] btf, List<string> sectionNames, List<ulong> sectionSizes, Dictionary<string, (int Section, ulong Offset, ulong Size)> symbols,
        List<BpfExtern>? externs = null, uint kconfigSize = 0)
    {
        var b = (byte[])btf.Clone();
        uint hdr = U32(b, 4), typeOff = U32(b, 8), typeLen = U32(b, 12), strOff = U32(b, 16);
        int p = (int)(hdr + typeOff), end = p + (int)typeLen;
        string Str(uint off)
        {
            int at = (int)(hdr + strOff + off);
            int e = System.Array.IndexOf(b, (byte)0, at);
            return Encoding.UTF8.GetString(b, at, e - at);
        }
        var varNames = new Dictionary<uint, string>();
        var varAt = new Dictionary<uint, int>();
        var funcAt = new Dictionary<uint, int>();
        var protoAt = new Dictionary<uint, int>();
        uint intId = 0;
        var datasecs = new List<(int At, string Name, int Vlen)>();
        uint id = 0;
        while (p + 12 <= end)
        {
            id++;
            uint nameOff = U32(b, p), info = U32(b, p + 4);
            int kind = (int)((info >> 24) & 0x1f), vlen = (int)(info & 0xffff);
            int at = p;
            p += 12;
            switch (kind)
            {
                case 1:                                      // int
                    if (intId == 0 && U32(b, at + 8) == 4 && ((U32(b, p) >> 24) & 1) != 0 && (U32(b, p) & 0xff) == 32) intId = id; // a signed 32-bit int
                    p += 4; break;
                case 3: p += 12; break;                      // array
                case 4 or 5: p += 12 * vlen; break;          // struct, union
                case 6: p += 8 * vlen; break;                // enum
                case 12: funcAt[id] = at; break;             // func
                case 13: protoAt[id] = at; p += 8 * vlen; break; // func_proto
                case 14: varNames[id] = Str(nameOff); varAt[id] = at; p += 4; break; // var
                case 15: datasecs.Add((at, Str(nameOff), vlen)); p += 12 * vlen; break;
                case 17: p += 4; break;                      // decl_tag
                case 19: p += 12 * vlen; break;              // enum64
            }
        }
        foreach (var (at, name, vlen) in datasecs)
        {
            if (name is BpfExterns.KconfigSection or BpfExterns.KsymsSection)
            {
                // The kernel takes no extern VARs: as libbpf does, they become allocated variables of the .kconfig map
                // (at their place in it), and the .ksyms ones 4-byte ints of a section nobody maps.
                bool ksyms = name == BpfExterns.KsymsSection;
                if (ksyms && Enumerable.Range(0, vlen).Any(i => funcAt.ContainsKey(U32(b, at + 12 + 12 * i))))
                {
                    KfuncSection(b, at, vlen, varAt, funcAt, protoAt, intId);
                    continue;
                }
                var entries = new List<(uint Type, uint Off, uint Size)>();
                for (int i = 0; i < vlen; i++)
                {
                    int v = at + 12 + 12 * i;
                    uint type = U32(b, v), off = U32(b, v + 4), size = U32(b, v + 8);
                    if (varAt.TryGetValue(type, out int vat))
                    {
                        W32(b, vat + 12, 1); // BTF_VAR_GLOBAL_ALLOCATED
                        if (ksyms && intId != 0) W32(b, vat + 8, intId);
                        if (!ksyms && externs?.FirstOrDefault(e => e.Name == varNames[type]) is { } ext) off = ext.Offset;
                    }
                    if (ksyms) (off, size) = ((uint)(4 * i), 4);
                    entries.Add((type, off, size));
                }
                int n = 0;
                foreach (var (type, off, size) in entries.OrderBy(x => x.Off))
                {
                    int v = at + 12 + 12 * n++;
                    W32(b, v, type); W32(b, v + 4, off); W32(b, v + 8, size);
                }
                W32(b, at + 8, ksyms ? (uint)(4 * vlen) : kconfigSize);
                continue;
            }
            int sec = sectionNames.IndexOf(name);
            if (sec >= 0 && U32(b, at + 8) == 0) W32(b, at + 8, (uint)sectionSizes[sec]);
            var vars = new List<(uint Type, uint Off, uint Size)>();
            for (int i = 0; i < vlen; i++)
            {
                int v = at + 12 + 12 * i;
                uint type = U32(b, v), off = U32(b, v + 4), size = U32(b, v + 8);
                if (varNames.TryGetValue(type, out var vn) && symbols.TryGetValue(vn, out var sym) && sym.Section == sec) off = (uint)sym.Offset;
                vars.Add((type, off, size));
            }
            int k = 0;
            foreach (var (type, off, size) in vars.OrderBy(x => x.Off))
            {
                int v = at + 12 + 12 * k++;
                W32(b, v, type); W32(b, v + 4, off); W32(b, v + 8, size);
            }
        }
        return b;
    }

    /// <summary>
    /// A .ksyms section with kfunc declarations: the kernel takes neither extern FUNCs nor a DATASEC entry that is not
    /// a VAR. The FUNCs become global (their parameters named, as the kernel wants of global functions), and the
    /// section an anonymous struct of ints over the same entries (the same record size), which nothing refers to.
    /// </summary>
    private static void KfuncSection(byte[] b, int at, int vlen, Dictionary<uint, int> varAt, Dictionary<uint, int> funcAt, Dictionary<uint, int> protoAt, uint intId)
    {
        for (int i = 0; i < vlen; i++)
        {
            int v = at + 12 + 12 * i;
            uint type = U32(b, v);
            uint memberName = 0;
            if (funcAt.TryGetValue(type, out int fat))
            {
                memberName = U32(b, fat);
                W32(b, fat + 4, (12u << 24) | 1u); // BTF_KIND_FUNC, BTF_FUNC_GLOBAL
                if (protoAt.TryGetValue(U32(b, fat + 8), out int pat))
                {
                    int n = (int)(U32(b, pat + 4) & 0xffff);
                    for (int j = 0; j < n; j++)
                        if (U32(b, pat + 12 + 8 * j + 4) != 0 && U32(b, pat + 12 + 8 * j) == 0) W32(b, pat + 12 + 8 * j, memberName);
                }
            }
            else if (varAt.TryGetValue(type, out int vat))
            {
                memberName = U32(b, vat);
                W32(b, vat + 12, 1); // BTF_VAR_GLOBAL_ALLOCATED
            }
            // struct btf_member: name_off, type, bit offset.
            W32(b, v, memberName); W32(b, v + 4, intId); W32(b, v + 8, (uint)(32 * i));
        }
        W32(b, at, 0);                                   // anonymous
        W32(b, at + 4, (4u << 24) | (uint)vlen);         // BTF_KIND_STRUCT
        W32(b, at + 8, (uint)(4 * vlen));
    }

    private static uint U32(byte[] b, int at) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(at));
    private static void W32(byte[] b, int at, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), v);
}
