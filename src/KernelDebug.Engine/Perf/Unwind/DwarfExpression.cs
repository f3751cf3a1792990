namespace KernelDebug.Perf.Unwind;

/// <summary>
/// The DWARF expression stack machine (DWARF 5, 2.5) for CFI: the operations CFA and register rules use — literals,
/// constants, breg, arithmetic, comparisons, deref of the sampled stack, branches. The x86-64 PLT's CFA is one:
/// rsp + 8 + ((rip &amp; 15) &gt;= 11 ? 8 : 0).
/// </summary>
internal static class DwarfExpression
{
    /// <summary>
    /// The value the expression leaves on the stack, or null when it reads what the sample did not record. regs are
    /// by DWARF number (valid: a bit each), memory is the recorded stack starting at stackBase.
    /// </summary>
    public static ulong? Evaluate(ReadOnlySpan<byte> expr, ulong[] regs, ulong valid, ReadOnlySpan<byte> memory, ulong stackBase, ulong? push = null)
    {
        Span<ulong> stack = stackalloc ulong[64];
        int sp = 0;
        if (push is { } p) stack[sp++] = p;
        var r = new DwarfReader(expr, 0);
        int steps = 0;
        while (r.Position < expr.Length)
        {
            if (++steps > 10000) return null; // a loop
            byte op = r.U8();
            if (sp >= stack.Length - 1) return null;
            if (op is >= 0x30 and <= 0x4f) { stack[sp++] = (ulong)(op - 0x30); continue; } // lit0-31
            if (op is >= 0x70 and <= 0x8f) // breg0-31
            {
                long off = r.Sleb();
                if (!Reg(regs, valid, op - 0x70, out var v)) return null;
                stack[sp++] = v + (ulong)off;
                continue;
            }
            switch (op)
            {
                case 0x08: stack[sp++] = r.U8(); break;
                case 0x09: stack[sp++] = (ulong)(sbyte)r.U8(); break;
                case 0x0a: stack[sp++] = r.U16(); break;
                case 0x0b: stack[sp++] = (ulong)(short)r.U16(); break;
                case 0x0c: stack[sp++] = r.U32(); break;
                case 0x0d: stack[sp++] = (ulong)(int)r.U32(); break;
                case 0x0e: case 0x0f: stack[sp++] = r.U64(); break;
                case 0x10: stack[sp++] = r.Uleb(); break;
                case 0x11: stack[sp++] = (ulong)r.Sleb(); break;
                case 0x12: if (sp < 1) return null; stack[sp] = stack[sp - 1]; sp++; break; // dup
                case 0x13: if (sp < 1) return null; sp--; break; // drop
                case 0x14: if (sp < 2) return null; stack[sp] = stack[sp - 2]; sp++; break; // over
                case 0x15: { int i = r.U8(); if (i >= sp) return null; stack[sp] = stack[sp - 1 - i]; sp++; break; } // pick
                case 0x16: if (sp < 2) return null; (stack[sp - 1], stack[sp - 2]) = (stack[sp - 2], stack[sp - 1]); break; // swap
                case 0x17: // rot
                {
                    if (sp < 3) return null;
                    ulong top = stack[sp - 1];
                    stack[sp - 1] = stack[sp - 2]; stack[sp - 2] = stack[sp - 3]; stack[sp - 3] = top;
                    break;
                }
                case 0x06: // deref
                    if (sp < 1 || !DwarfUnwinder.Read(memory, stackBase, stack[sp - 1], out var m)) return null;
                    stack[sp - 1] = m;
                    break;
                case 0x19: if (sp < 1) return null; stack[sp - 1] = (ulong)Math.Abs((long)stack[sp - 1]); break;
                case 0x1f: if (sp < 1) return null; stack[sp - 1] = (ulong)-(long)stack[sp - 1]; break;
                case 0x20: if (sp < 1) return null; stack[sp - 1] = ~stack[sp - 1]; break;
                case 0x23: if (sp < 1) return null; stack[sp - 1] += r.Uleb(); break; // plus_uconst
                case 0x1a: case 0x1b: case 0x1c: case 0x1d: case 0x1e: case 0x21: case 0x22: case 0x24: case 0x25: case 0x26: case 0x27:
                case 0x29: case 0x2a: case 0x2b: case 0x2c: case 0x2d: case 0x2e:
                {
                    if (sp < 2) return null;
                    ulong b = stack[--sp], a = stack[sp - 1];
                    ulong? v = op switch
                    {
                        0x1a => a & b,
                        0x1b => b == 0 ? null : (ulong)((long)a / (long)b),
                        0x1c => a - b,
                        0x1d => b == 0 ? null : a % b,
                        0x1e => a * b,
                        0x21 => a | b,
                        0x22 => a + b,
                        0x24 => b >= 64 ? 0 : a << (int)b,
                        0x25 => b >= 64 ? 0 : a >> (int)b,
                        0x26 => (ulong)((long)a >> (int)Math.Min(b, 63)),
                        0x27 => a ^ b,
                        0x29 => a == b ? 1UL : 0,
                        0x2a => (long)a >= (long)b ? 1UL : 0,
                        0x2b => (long)a > (long)b ? 1UL : 0,
                        0x2c => (long)a <= (long)b ? 1UL : 0,
                        0x2d => (long)a < (long)b ? 1UL : 0,
                        _ => a != b ? 1UL : 0,
                    };
                    if (v is null) return null;
                    stack[sp - 1] = v.Value;
                    break;
                }
                case 0x2f: { int skip = (short)r.U16(); r.Position += skip; break; } // skip
                case 0x28: // bra
                {
                    int skip = (short)r.U16();
                    if (sp < 1) return null;
                    if (stack[--sp] != 0) r.Position += skip;
                    break;
                }
                case 0x92: // bregx
                {
                    int rn = (int)r.Uleb();
                    long off = r.Sleb();
                    if (!Reg(regs, valid, rn, out var v)) return null;
                    stack[sp++] = v + (ulong)off;
                    break;
                }
                case 0x96: break; // nop
                default: return null;
            }
            if (r.Position < 0 || r.Position > expr.Length) return null;
        }
        return sp > 0 ? stack[sp - 1] : null;
    }

    private static bool Reg(ulong[] regs, ulong valid, int r, out ulong v)
    {
        if ((uint)r < UnwindRegisters.Count && (valid & (1UL << r)) != 0) { v = regs[r]; return true; }
        v = 0;
        return false;
    }
}
