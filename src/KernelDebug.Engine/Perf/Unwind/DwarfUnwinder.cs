using System.Buffers.Binary;
using System.Numerics;

namespace KernelDebug.Perf.Unwind;

/// <summary>
/// Unwinds a sample's user stack from the registers and the copy of the stack the kernel recorded with it
/// (PERF_SAMPLE_REGS_USER, PERF_SAMPLE_STACK_USER), with the CFI of each mapped binary, as perf does with libunwind:
/// the first address is the sampled pc, each caller's is its return address minus one (so it lies inside the call),
/// and the walk ends at an undefined return address (the outermost frame's CFI), a zero one, a read outside the
/// recorded stack, or an address without CFI and no usable frame pointer (libunwind's x86-64 fallback).
/// </summary>
public sealed class DwarfUnwinder
{
    /// <summary>The CFI of the binary mapped at a run-time address, and that address as the binary's link-time address.</summary>
    internal delegate CallFrameInfo? Locator(ulong ip, out ulong linkAddress);

    private readonly UnwindArch _arch;
    private readonly ulong[] _regs = new ulong[UnwindRegisters.Count], _next = new ulong[UnwindRegisters.Count];

    public DwarfUnwinder(UnwindArch arch) => _arch = arch;

    /// <summary>
    /// Writes the frames' addresses into ips (innermost first) and returns how many. perfRegs are the sampled
    /// registers in perf's order (one per bit set in mask); stack is the recorded stack, starting at the sampled sp.
    /// </summary>
    internal int Unwind(ReadOnlySpan<byte> perfRegs, ulong mask, ReadOnlySpan<byte> stack, Locator locate, Span<ulong> ips)
    {
        if (ips.IsEmpty) return 0;
        ulong valid = 0, pc = 0;
        bool havePc = false;
        int index = 0;
        for (ulong m = mask; m != 0; m &= m - 1, index++)
        {
            int bit = BitOperations.TrailingZeroCount(m);
            if ((index + 1) * 8 > perfRegs.Length) break;
            ulong v = BinaryPrimitives.ReadUInt64LittleEndian(perfRegs[(index * 8)..]);
            int d = UnwindRegisters.DwarfOf(_arch, bit);
            if (d == -2) { pc = v; havePc = true; }
            else if (d >= 0) { _regs[d] = v; valid |= 1UL << d; }
        }
        if (!havePc || pc == 0) return 0;
        int spReg = UnwindRegisters.StackPointer(_arch);
        if ((valid & (1UL << spReg)) == 0) { ips[0] = pc; return 1; }
        ulong stackBase = _regs[spReg];
        int n = 0;
        ips[n++] = pc;
        bool afterCall = false;
        var regs = _regs;
        var next = _next;

        while (n < ips.Length)
        {
            ulong sp = regs[spReg];
            var cfi = locate(afterCall ? pc - 1 : pc, out ulong link);
            var row = cfi?.RowAt(link);
            ulong newPc;
            ulong nextValid;
            bool signal = false;
            if (row is null)
            {
                // No CFI: libunwind on x86-64 follows rbp when it points a little above the stack pointer.
                if (_arch != UnwindArch.X64 || (valid & (1UL << 6)) == 0) break;
                ulong rbp = regs[6];
                if (rbp < sp || rbp - sp > 0x4000 || !Read(stack, stackBase, rbp, out var savedRbp) || !Read(stack, stackBase, rbp + 8, out newPc)) break;
                regs.CopyTo(next, 0);
                next[6] = savedRbp;
                next[spReg] = rbp + 16;
                nextValid = valid;
            }
            else
            {
                signal = row.SignalFrame;
                // The return-address column of x86-64 is rip itself (the PLT's CFA expression reads it).
                if (_arch == UnwindArch.X64) { regs[16] = pc; valid |= 1UL << 16; }
                ulong cfa;
                if (row.CfaExprStart >= 0)
                {
                    var r = Eval(row, row.CfaExprStart, row.CfaExprLength, regs, valid, stack, stackBase, null);
                    if (r is null) break;
                    cfa = r.Value;
                }
                else
                {
                    if ((uint)row.CfaRegister >= UnwindRegisters.Count || (valid & (1UL << row.CfaRegister)) == 0) break;
                    cfa = regs[row.CfaRegister] + (ulong)row.CfaOffset;
                }
                nextValid = valid;
                bool ok = true;
                for (int i = 0; i < UnwindRegisters.Count && ok; i++)
                {
                    var rule = row.Rules[i];
                    switch (rule.Kind)
                    {
                        case RuleKind.Same: next[i] = regs[i]; break;
                        case RuleKind.Undefined: nextValid &= ~(1UL << i); break;
                        case RuleKind.Offset:
                            if (Read(stack, stackBase, cfa + (ulong)rule.Value, out var v)) { next[i] = v; nextValid |= 1UL << i; }
                            else if (i == row.ReturnColumn) ok = false;
                            else nextValid &= ~(1UL << i);
                            break;
                        case RuleKind.ValOffset: next[i] = cfa + (ulong)rule.Value; nextValid |= 1UL << i; break;
                        case RuleKind.Register:
                            if ((uint)rule.Value < UnwindRegisters.Count && (valid & (1UL << (int)rule.Value)) != 0) { next[i] = regs[rule.Value]; nextValid |= 1UL << i; }
                            else nextValid &= ~(1UL << i);
                            break;
                        case RuleKind.Expression:
                        case RuleKind.ValExpression:
                        {
                            var a = Eval(row, rule.ExprStart, rule.ExprLength, regs, valid, stack, stackBase, cfa);
                            ulong value = 0;
                            if (a is null || (rule.Kind == RuleKind.Expression && !Read(stack, stackBase, a.Value, out value))) { nextValid &= ~(1UL << i); break; }
                            next[i] = rule.Kind == RuleKind.Expression ? value : a.Value;
                            nextValid |= 1UL << i;
                            break;
                        }
                    }
                }
                if (!ok) break;
                int ra = row.ReturnColumn;
                // The end of the chain: the outermost frame's return address is undefined (glibc's _start, clone).
                if ((uint)ra >= UnwindRegisters.Count || (nextValid & (1UL << ra)) == 0) break;
                if (row.Rules[spReg].Kind == RuleKind.Same) { next[spReg] = cfa; nextValid |= 1UL << spReg; }
                newPc = next[ra];
            }
            if (newPc == 0) break;
            if (newPc == pc && next[spReg] == sp) break; // no progress
            (regs, next) = (next, regs);
            valid = nextValid;
            pc = newPc;
            afterCall = !signal;
            ips[n++] = afterCall ? pc - 1 : pc;
        }
        return n;
    }

    internal static bool Read(ReadOnlySpan<byte> stack, ulong stackBase, ulong address, out ulong value)
    {
        // As perf's access_mem: a word is read from the copy only when it ends before the copy's last byte (perf
        // refuses the copy's final word too, so chains stop where perf's do).
        ulong off = address - stackBase;
        if (address < stackBase || off > (ulong)stack.Length || (ulong)stack.Length - off <= 8) { value = 0; return false; }
        value = BinaryPrimitives.ReadUInt64LittleEndian(stack[(int)off..]);
        return true;
    }

    private static ulong? Eval(UnwindRow row, int start, int length, ulong[] regs, ulong valid, ReadOnlySpan<byte> stack, ulong stackBase, ulong? push)
    {
        if (start < 0 || length < 0 || start + length > row.Section.Length) return null;
        try { return DwarfExpression.Evaluate(row.Section.AsSpan(start, length), regs, valid, stack, stackBase, push); }
        catch (CfiException) { return null; }
    }
}
