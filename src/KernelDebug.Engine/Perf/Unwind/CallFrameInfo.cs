namespace KernelDebug.Perf.Unwind;

/// <summary>How a register of the caller is found (DWARF 5, 6.4.1).</summary>
internal enum RuleKind : byte { Same, Undefined, Offset, ValOffset, Register, Expression, ValExpression }

internal struct RegisterRule
{
    public RuleKind Kind;
    /// <summary>The offset from the CFA (Offset, ValOffset), or the register (Register).</summary>
    public long Value;
    public int ExprStart, ExprLength;
}

/// <summary>The row of the CFI table at one address: how to compute the CFA and each register of the caller.</summary>
internal sealed class UnwindRow
{
    public int CfaRegister;
    public long CfaOffset;
    /// <summary>A DW_CFA_def_cfa_expression (start in Section), or -1.</summary>
    public int CfaExprStart = -1, CfaExprLength;
    public byte[] Section = Array.Empty<byte>();
    public readonly RegisterRule[] Rules = new RegisterRule[UnwindRegisters.Count];
    public int ReturnColumn;
    /// <summary>The FDE's CIE has the 'S' augmentation (a signal trampoline: its caller's address is not a return address).</summary>
    public bool SignalFrame;

    public UnwindRow Clone()
    {
        var r = new UnwindRow
        {
            CfaRegister = CfaRegister, CfaOffset = CfaOffset, CfaExprStart = CfaExprStart, CfaExprLength = CfaExprLength,
            Section = Section, ReturnColumn = ReturnColumn, SignalFrame = SignalFrame,
        };
        Rules.CopyTo(r.Rules, 0);
        return r;
    }
}

/// <summary>
/// The call frame information of one binary: its FDEs found by address (through .eh_frame_hdr's sorted table when
/// there is one, else an index made by reading every FDE of .eh_frame, then .debug_frame), and the CFA program of
/// the CIE and FDE run up to an address to give that address's <see cref="UnwindRow"/>. Written from the DWARF 5
/// standard (chapter 6.4) and the LSB's .eh_frame description; rows are cached per address.
/// </summary>
internal sealed class CallFrameInfo
{
    private readonly EhFrameSource _source;
    private (ulong Start, ulong End, int Offset)[]? _ehIndex, _debugIndex;
    private readonly Dictionary<(bool Debug, int Offset), Cie> _cies = new();
    private readonly Dictionary<ulong, UnwindRow?> _rows = new();
    private readonly int _hdrTable = -1, _hdrCount;

    private sealed class Cie
    {
        public ulong CodeAlign;
        public long DataAlign;
        public int ReturnColumn;
        public byte FdeEncoding; // DW_EH_PE_absptr unless 'R'
        public bool HasAugmentationData, Signal;
        public int InstructionsStart, InstructionsEnd;
        public int AddressSize = 8;
    }

    public CallFrameInfo(EhFrameSource source)
    {
        _source = source;
        // .eh_frame_hdr: version 1, eh_frame_ptr encoding, fde_count encoding, table encoding; the table usable for a
        // binary search when its entries are datarel sdata4 pairs (what every linker writes).
        if (source.EhFrameHdr is { Length: >= 4 } hdr && source.EhFrame is not null && hdr[0] == 1 && hdr[3] == 0x3b && hdr[2] != 0xff)
        {
            try
            {
                var r = new DwarfReader(hdr, 4);
                r.Pointer(hdr[1], source.EhFrameHdrAddress, source.EhFrameHdrAddress);
                ulong count = r.Pointer(hdr[2], source.EhFrameHdrAddress, source.EhFrameHdrAddress);
                if (count <= (ulong)((hdr.Length - r.Position) / 8)) { _hdrCount = (int)count; _hdrTable = r.Position; }
            }
            catch (CfiException) { }
        }
    }

    public UnwindArch Arch => _source.Arch;
    public Symbols.ElfLoadMap Loads => _source.Loads;
    public string? BuildId => _source.BuildId;

    /// <summary>The row for a link-time address, or null when no FDE covers it (or its CFI is malformed).</summary>
    public UnwindRow? RowAt(ulong pc)
    {
        if (_rows.TryGetValue(pc, out var row)) return row;
        try { row = Compute(pc); }
        catch (CfiException) { row = null; }
        if (_rows.Count > 1 << 16) _rows.Clear();
        _rows[pc] = row;
        return row;
    }

    private UnwindRow? Compute(ulong pc)
    {
        if (_source.EhFrame is { } eh)
        {
            int fde = -1;
            if (_hdrTable >= 0) fde = FromHeader(pc);
            else fde = Search(_ehIndex ??= BuildIndex(eh, false), pc);
            if (fde >= 0 && Execute(eh, false, _source.EhFrameAddress, fde, pc) is { } row) return row;
        }
        if (_source.DebugFrame is { } dbg)
        {
            int fde = Search(_debugIndex ??= BuildIndex(dbg, true), pc);
            if (fde >= 0) return Execute(dbg, true, 0, fde, pc);
        }
        return null;
    }

    /// <summary>Binary search of .eh_frame_hdr's table (initial location, FDE address), both relative to the header.</summary>
    private int FromHeader(ulong pc)
    {
        var hdr = _source.EhFrameHdr!;
        ulong b = _source.EhFrameHdrAddress;
        int lo = 0, hi = _hdrCount - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            ulong start = b + (ulong)(long)BitConverter.ToInt32(hdr, _hdrTable + mid * 8);
            if (start <= pc) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        if (found < 0) return -1;
        ulong fdeAddress = b + (ulong)(long)BitConverter.ToInt32(hdr, _hdrTable + found * 8 + 4);
        ulong offset = fdeAddress - _source.EhFrameAddress;
        return offset < (ulong)_source.EhFrame!.Length ? (int)offset : -1;
    }

    private static int Search((ulong Start, ulong End, int Offset)[] index, ulong pc)
    {
        int lo = 0, hi = index.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (index[mid].Start <= pc) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        return found >= 0 && pc < index[found].End ? index[found].Offset : -1;
    }

    /// <summary>Every FDE of a section with its address range, sorted.</summary>
    private (ulong, ulong, int)[] BuildIndex(byte[] section, bool debug)
    {
        var list = new List<(ulong, ulong, int)>();
        int off = 0;
        try
        {
            while (off + 4 <= section.Length)
            {
                var r = new DwarfReader(section, off);
                ulong length = r.U32();
                bool is64 = length == 0xffffffff;
                if (is64) length = r.U64();
                if (length == 0) { if (debug) { off = r.Position; continue; } break; } // .eh_frame's terminator
                int idField = r.Position;
                long end = idField + (long)length;
                if (end > section.Length || end < idField) break;
                ulong id = is64 ? r.U64() : r.U32();
                if (!IsCie(id, debug, is64))
                {
                    var (start, range) = FdeRange(section, debug, off, out _);
                    if (range > 0) list.Add((start, start + range, off));
                }
                off = (int)end;
            }
        }
        catch (CfiException) { }
        list.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return list.ToArray();
    }

    private static bool IsCie(ulong id, bool debug, bool is64) => debug ? id == (is64 ? ulong.MaxValue : 0xffffffff) : id == 0;

    private ulong SectionAddress(bool debug) => debug ? 0 : _source.EhFrameAddress;

    /// <summary>An FDE's initial location and range, and where its CIE is.</summary>
    private (ulong Start, ulong Range) FdeRange(byte[] section, bool debug, int fdeOffset, out Cie cie)
    {
        var r = new DwarfReader(section, fdeOffset);
        ulong length = r.U32();
        bool is64 = length == 0xffffffff;
        if (is64) length = r.U64();
        int idField = r.Position;
        ulong id = is64 ? r.U64() : r.U32();
        if (IsCie(id, debug, is64)) throw new CfiException("an FDE was expected");
        long cieOffset = debug ? (long)id : idField - (long)id;
        if (cieOffset < 0 || cieOffset >= section.Length) throw new CfiException("the FDE's CIE pointer is outside the section");
        cie = CieAt(section, debug, (int)cieOffset);
        ulong start, range;
        if (debug)
        {
            start = cie.AddressSize == 4 ? r.U32() : r.U64();
            range = cie.AddressSize == 4 ? r.U32() : r.U64();
        }
        else
        {
            start = r.Pointer(cie.FdeEncoding, _source.EhFrameAddress);
            range = r.Pointer((byte)(cie.FdeEncoding & 0x0f), 0);
        }
        return (start, range);
    }

    private Cie CieAt(byte[] section, bool debug, int offset)
    {
        if (_cies.TryGetValue((debug, offset), out var known)) return known;
        var r = new DwarfReader(section, offset);
        ulong length = r.U32();
        bool is64 = length == 0xffffffff;
        if (is64) length = r.U64();
        int idField = r.Position;
        long end = idField + (long)length;
        if (end > section.Length) throw new CfiException("a CIE runs past the section");
        ulong id = is64 ? r.U64() : r.U32();
        if (!IsCie(id, debug, is64)) throw new CfiException("a CIE was expected");
        var cie = new Cie();
        byte version = r.U8();
        string aug = r.CString();
        if (version >= 4) { cie.AddressSize = r.U8(); r.U8(); }
        cie.CodeAlign = r.Uleb();
        cie.DataAlign = r.Sleb();
        cie.ReturnColumn = version == 1 ? r.U8() : (int)r.Uleb();
        if (aug.StartsWith('z'))
        {
            cie.HasAugmentationData = true;
            ulong augLength = r.Uleb();
            int augEnd = r.Position + (int)augLength;
            foreach (char c in aug.AsSpan(1))
            {
                switch (c)
                {
                    case 'R': cie.FdeEncoding = r.U8(); break;
                    case 'L': r.U8(); break;
                    case 'P': { byte enc = r.U8(); r.Pointer((byte)(enc & 0x7f), SectionAddress(debug)); break; }
                    case 'S': cie.Signal = true; break;
                    default: break; // 'B', 'G' (aarch64 key, MTE): no data
                }
            }
            r.Position = augEnd;
        }
        else if (aug.Length > 0 && aug != "eh") throw new CfiException($"unknown CIE augmentation '{aug}'");
        cie.InstructionsStart = r.Position;
        cie.InstructionsEnd = (int)end;
        _cies[(debug, offset)] = cie;
        return cie;
    }

    private UnwindRow? Execute(byte[] section, bool debug, ulong sectionAddress, int fdeOffset, ulong pc)
    {
        var (start, range) = FdeRange(section, debug, fdeOffset, out var cie);
        if (pc < start || pc - start >= range) return null;
        // The FDE's instructions follow its range (and its augmentation data).
        var r = new DwarfReader(section, fdeOffset);
        ulong length = r.U32();
        bool is64 = length == 0xffffffff;
        if (is64) length = r.U64();
        int end = r.Position + (int)length;
        r.Skip(is64 ? 8 : 4);
        if (debug) r.Skip(2 * cie.AddressSize);
        else
        {
            r.Pointer(cie.FdeEncoding, sectionAddress);
            r.Pointer((byte)(cie.FdeEncoding & 0x0f), 0);
        }
        if (cie.HasAugmentationData) r.Skip((int)r.Uleb());

        var row = new UnwindRow { Section = section, ReturnColumn = cie.ReturnColumn, SignalFrame = cie.Signal };
        var stack = new Stack<UnwindRow>();
        ulong loc = start;
        Run(section, cie.InstructionsStart, cie.InstructionsEnd, cie, row, null, stack, ref loc, ulong.MaxValue, sectionAddress);
        var initial = row.Clone();
        loc = start;
        Run(section, r.Position, end, cie, row, initial, stack, ref loc, pc, sectionAddress);
        return row;
    }

    /// <summary>Runs CFA instructions until the location passes pc (DWARF 5, 6.4.2).</summary>
    private static void Run(byte[] section, int at, int end, Cie cie, UnwindRow row, UnwindRow? initial, Stack<UnwindRow> stack, ref ulong loc, ulong pc, ulong sectionAddress)
    {
        var r = new DwarfReader(section, at);
        while (r.Position < end)
        {
            byte op = r.U8();
            int high = op & 0xc0, low = op & 0x3f;
            ulong advance = 0;
            switch (high)
            {
                case 0x40: advance = (ulong)low * cie.CodeAlign; break;
                case 0x80: Set(row, low, RuleKind.Offset, (long)r.Uleb() * cie.DataAlign); continue;
                case 0xc0: Restore(row, initial, low); continue;
                default:
                    switch (op)
                    {
                        case 0x00: continue; // nop
                        case 0x01: loc = r.Pointer(cie.FdeEncoding, sectionAddress); if (loc > pc) return; continue;
                        case 0x02: advance = r.U8() * cie.CodeAlign; break;
                        case 0x03: advance = r.U16() * cie.CodeAlign; break;
                        case 0x04: advance = r.U32() * cie.CodeAlign; break;
                        case 0x05: { int reg = (int)r.Uleb(); Set(row, reg, RuleKind.Offset, (long)r.Uleb() * cie.DataAlign); continue; }
                        case 0x06: Restore(row, initial, (int)r.Uleb()); continue;
                        case 0x07: Set(row, (int)r.Uleb(), RuleKind.Undefined, 0); continue;
                        case 0x08: Set(row, (int)r.Uleb(), RuleKind.Same, 0); continue;
                        case 0x09: { int reg = (int)r.Uleb(); Set(row, reg, RuleKind.Register, (long)r.Uleb()); continue; }
                        case 0x0a: stack.Push(row.Clone()); continue; // remember_state
                        case 0x0b: // restore_state (the CFA too, as gdb and libunwind do)
                        {
                            if (stack.Count == 0) throw new CfiException("DW_CFA_restore_state without a remembered state");
                            var saved = stack.Pop();
                            saved.Rules.CopyTo(row.Rules, 0);
                            row.CfaRegister = saved.CfaRegister; row.CfaOffset = saved.CfaOffset;
                            row.CfaExprStart = saved.CfaExprStart; row.CfaExprLength = saved.CfaExprLength;
                            continue;
                        }
                        case 0x0c: row.CfaRegister = (int)r.Uleb(); row.CfaOffset = (long)r.Uleb(); row.CfaExprStart = -1; continue;
                        case 0x0d: row.CfaRegister = (int)r.Uleb(); row.CfaExprStart = -1; continue;
                        case 0x0e: row.CfaOffset = (long)r.Uleb(); continue;
                        case 0x0f: { int len = (int)r.Uleb(); row.CfaExprStart = r.Position; row.CfaExprLength = len; r.Skip(len); continue; }
                        case 0x10:
                        case 0x16:
                        {
                            int reg = (int)r.Uleb(), len = (int)r.Uleb();
                            if ((uint)reg < UnwindRegisters.Count)
                                row.Rules[reg] = new RegisterRule { Kind = op == 0x10 ? RuleKind.Expression : RuleKind.ValExpression, ExprStart = r.Position, ExprLength = len };
                            r.Skip(len);
                            continue;
                        }
                        case 0x11: { int reg = (int)r.Uleb(); Set(row, reg, RuleKind.Offset, r.Sleb() * cie.DataAlign); continue; }
                        case 0x12: row.CfaRegister = (int)r.Uleb(); row.CfaOffset = r.Sleb() * cie.DataAlign; row.CfaExprStart = -1; continue;
                        case 0x13: row.CfaOffset = r.Sleb() * cie.DataAlign; continue;
                        case 0x14: { int reg = (int)r.Uleb(); Set(row, reg, RuleKind.ValOffset, (long)r.Uleb() * cie.DataAlign); continue; }
                        case 0x15: { int reg = (int)r.Uleb(); Set(row, reg, RuleKind.ValOffset, r.Sleb() * cie.DataAlign); continue; }
                        case 0x2d: continue; // GNU_window_save / AARCH64_negate_ra_state: pointer authentication, nothing to track here
                        case 0x2e: r.Uleb(); continue; // GNU_args_size
                        case 0x2f: { int reg = (int)r.Uleb(); Set(row, reg, RuleKind.Offset, -(long)r.Uleb() * cie.DataAlign); continue; }
                        default: throw new CfiException($"unknown CFA instruction 0x{op:x2}");
                    }
                    break;
            }
            if (loc + advance > pc) return;
            loc += advance;
        }
    }

    private static void Set(UnwindRow row, int reg, RuleKind kind, long value)
    {
        if ((uint)reg < UnwindRegisters.Count) row.Rules[reg] = new RegisterRule { Kind = kind, Value = value };
    }

    private static void Restore(UnwindRow row, UnwindRow? initial, int reg)
    {
        if ((uint)reg < UnwindRegisters.Count) row.Rules[reg] = initial?.Rules[reg] ?? default;
    }
}
