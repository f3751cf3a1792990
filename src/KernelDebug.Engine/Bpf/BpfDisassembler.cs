using System.Buffers.Binary;
using System.Globalization;
using KernelDebug.Symbols;

namespace KernelDebug.Bpf;

/// <summary>
/// Decodes translated eBPF instructions into the text the kernel's disassembler (kernel/bpf/disasm.c) prints and
/// bpftool prog dump xlated shows: "(b7) r0 = 0", "(85) call bpf_map_lookup_elem#141952", "(18) r1 = map[id:5]".
/// </summary>
public static class BpfDisassembler
{
    private const byte LD = 0, LDX = 1, ST = 2, STX = 3, ALU = 4, JMP = 5, JMP32 = 6, ALU64 = 7;
    private const byte IMM = 0x00, ABS = 0x20, IND = 0x40, MEM = 0x60, MEMSX = 0x80, ATOMIC = 0xc0;
    private const byte K = 0x00, X = 0x08;
    private const int FETCH = 0x01, XCHG = 0xe0 | FETCH, CMPXCHG = 0xf0 | FETCH, LOAD_ACQ = 0x100, STORE_REL = 0x110;
    private const byte PSEUDO_MAP_FD = 1, PSEUDO_MAP_VALUE = 2, PSEUDO_CALL = 1, PSEUDO_KFUNC_CALL = 2, MAY_GOTO = 0;

    private static readonly string?[] Alu =
        { "+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "neg", "%=", "^=", "=", "s>>=", "endian", null, null };
    private static readonly string?[] AluSigned = { null, null, null, "s/=", null, null, null, null, null, "s%=", null, null, null, null, null, null };
    private static readonly string?[] AtomicAlu = { "add", null, null, null, "or", "and", null, null, null, null, "xor", null, null, null, null, null };
    private static readonly string[] Jmp =
        { "jmp", "==", ">", ">=", "&", "!=", "s>", "s>=", "call", "exit", "<", "<=", "s<", "s<=", "?", "?" };
    private static readonly string[] LdSt = { "u32", "u16", "u8", "u64" };
    private static readonly string[] LdSx = { "s32", "s16", "s8", "s64" };
    private static readonly string[] MovSx = { "(s8)", "(s16)", "", "(s32)" };
    private static readonly string[] Class = { "ld", "ldx", "st", "stx", "alu", "jmp", "jmp32", "alu64" };

    public static BpfInstruction[] Decode(ReadOnlySpan<byte> code, Kallsyms? symbols = null)
    {
        var list = new List<BpfInstruction>();
        int count = code.Length / 8;
        for (int i = 0; i < count; i++)
        {
            var insn = code.Slice(i * 8, 8);
            bool wide = insn[0] == (LD | IMM | 0x18) && i + 1 < count;
            var next = wide ? code.Slice((i + 1) * 8, 8) : default;
            list.Add(new BpfInstruction
            {
                Index = i,
                Opcode = insn[0],
                Text = Format(insn, next, symbols),
                Bytes = code.Slice(i * 8, wide ? 16 : 8).ToArray(),
            });
            if (wide) i++;
        }
        return list.ToArray();
    }

    private static string I(long v) => v.ToString(CultureInfo.InvariantCulture);
    private static string Signed(int v) => (v >= 0 ? "+" : "") + I(v);

    /// <summary>One instruction; next is the second half of a 64-bit immediate load.</summary>
    public static string Format(ReadOnlySpan<byte> insn, ReadOnlySpan<byte> next, Kallsyms? symbols)
    {
        byte code = insn[0];
        int dst = insn[1] & 0x0f, src = insn[1] >> 4;
        short off = BinaryPrimitives.ReadInt16LittleEndian(insn[2..]);
        int imm = BinaryPrimitives.ReadInt32LittleEndian(insn[4..]);
        byte cls = (byte)(code & 7), op = (byte)(code & 0xf0), size = (byte)(code & 0x18), mode = (byte)(code & 0xe0);
        string h = $"({code:x2})";

        switch (cls)
        {
            case ALU or ALU64:
            {
                char r = cls == ALU ? 'w' : 'r';
                if (op == 0xd0)
                    return cls == ALU64 ? $"{h} r{dst} = bswap{imm} r{dst}" : $"{h} r{dst} = {((code & X) != 0 ? "be" : "le")}{imm} r{dst}";
                if (op == 0x80) return $"{h} {r}{dst} = -{r}{dst}";
                if (code == (ALU64 | 0xb0 | X) && off == 1) return $"{h} r{dst} = addr_space_cast(r{src}, {(uint)imm >> 16}, {(ushort)imm})";
                if (code == (ALU64 | 0xb0 | X) && off == -1) return $"{h} r{dst} = &(void __percpu *)(r{src})";
                string opText = (op is 0x30 or 0x90) && off == 1 ? AluSigned[op >> 4]! : Alu[op >> 4] ?? "?";
                if ((code & X) != 0)
                {
                    string sx = op == 0xb0 && off is 8 or 16 or 32 ? MovSx[(off >> 3) - 1] : "";
                    return $"{h} {r}{dst} {opText} {sx}{r}{src}";
                }
                return $"{h} {r}{dst} {opText} {I(imm)}";
            }
            case STX:
                if (mode == MEM) return $"{h} *({LdSt[size >> 3]} *)(r{dst} {Signed(off)}) = r{src}";
                if (mode == ATOMIC)
                {
                    string w = size == 0x18 ? "64" : "";
                    string t = LdSt[size >> 3];
                    if (imm is 0x00 or 0x40 or 0x50 or 0xa0) return $"{h} lock *({t} *)(r{dst} {Signed(off)}) {Alu[imm >> 4]} r{src}";
                    if (imm is (0x00 | FETCH) or (0x40 | FETCH) or (0x50 | FETCH) or (0xa0 | FETCH))
                        return $"{h} r{src} = atomic{w}_fetch_{AtomicAlu[(imm & 0xf0) >> 4]}(({t} *)(r{dst} {Signed(off)}), r{src})";
                    if (imm == CMPXCHG) return $"{h} r0 = atomic{w}_cmpxchg(({t} *)(r{dst} {Signed(off)}), r0, r{src})";
                    if (imm == XCHG) return $"{h} r{src} = atomic{w}_xchg(({t} *)(r{dst} {Signed(off)}), r{src})";
                    if (imm == LOAD_ACQ) return $"{h} r{dst} = load_acquire(({t} *)(r{src} {Signed(off)}))";
                    if (imm == STORE_REL) return $"{h} store_release(({t} *)(r{dst} {Signed(off)}), r{src})";
                }
                return $"BUG_{code:x2}";
            case ST:
                if (mode == MEM) return $"{h} *({LdSt[size >> 3]} *)(r{dst} {Signed(off)}) = {I(imm)}";
                if (mode == 0xc0) return $"{h} nospec";
                return $"BUG_st_{code:x2}";
            case LDX:
                if (mode != MEM && mode != MEMSX) return $"BUG_ldx_{code:x2}";
                return $"{h} r{dst} = *({(mode == MEM ? LdSt : LdSx)[size >> 3]} *)(r{src} {Signed(off)})";
            case LD:
                if (mode == ABS) return $"{h} r0 = *({LdSt[size >> 3]} *)skb[{I(imm)}]";
                if (mode == IND) return $"{h} r0 = *({LdSt[size >> 3]} *)skb[r{src} + {I(imm)}]";
                if (mode == IMM && size == 0x18)
                {
                    int hi = next.Length >= 8 ? BinaryPrimitives.ReadInt32LittleEndian(next[4..]) : 0;
                    ulong full = ((ulong)(uint)hi << 32) | (uint)imm;
                    // bpftool's callback: map fds by map id, map values (global data) by map id and offset; else the 64-bit immediate.
                    string value = src switch
                    {
                        PSEUDO_MAP_FD => $"map[id:{(uint)imm}]",
                        PSEUDO_MAP_VALUE => $"map[id:{(uint)imm}][0]+{(uint)hi}",
                        _ => $"0x{full:x}",
                    };
                    return $"{h} r{dst} = {value}";
                }
                return $"BUG_ld_{code:x2}";
            case JMP or JMP32:
            {
                char r = cls == JMP32 ? 'w' : 'r';
                if (op == 0x80)
                {
                    if (src == PSEUDO_CALL) return $"{h} call pc{Signed(off)}";
                    if (src == 0 && imm >= 0 && imm < BpfNames.Helpers.Length) return $"{h} call {BpfNames.Helpers[imm]}#{I(imm)}";
                    if (src == PSEUDO_KFUNC_CALL) return $"{h} call kernel-function#{I(imm)}";
                    return $"{h} call {HelperName(symbols, imm) ?? "unknown"}#{I(imm)}";
                }
                if (code == (JMP | 0x00)) return $"{h} goto pc{Signed(off)}";
                if (code == (JMP | 0x00 | X)) return $"{h} gotox r{dst}";
                if (code == (JMP | 0xe0) && src == MAY_GOTO) return $"{h} may_goto pc{Signed(off)}";
                if (code == (JMP32 | 0x00)) return $"{h} gotol pc{Signed(imm)}";
                if (code == (JMP | 0x90)) return $"{h} exit";
                if ((code & X) != 0) return $"{h} if {r}{dst} {Jmp[op >> 4]} {r}{src} goto pc{Signed(off)}";
                return $"{h} if {r}{dst} {Jmp[op >> 4]} 0x{(uint)imm:x} goto pc{Signed(off)}";
            }
        }
        return $"{h} {Class[cls]}";
    }

    /// <summary>
    /// A helper called through its address (__bpf_call_base + imm) named from kallsyms, as bpftool does; the address
    /// when no symbol is there; null when kallsyms hides addresses or lacks __bpf_call_base.
    /// </summary>
    private static string? HelperName(Kallsyms? symbols, int imm)
    {
        if (symbols?.AddressOf("__bpf_call_base") is not { } callBase) return null;
        ulong address = unchecked(callBase + (ulong)(long)imm);
        return symbols.NameAt(address) ?? $"0x{address:x}";
    }
}
