using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Iced.Intel;
using KernelDebug.Symbols;

namespace KernelDebug.Syscall.LibraryCalls;

/// <summary>Where a function's uprobe and uretprobe go, and why.</summary>
public readonly record struct ProbePoint(ulong FileOffset, int Skipped, bool Emulated, string Instruction)
{
    public override string ToString() =>
        $"+{Skipped} ({Instruction}, {(Emulated ? "emulated by the kernel" : "single-stepped out of line")})";
}

/// <summary>
/// Chooses, per function, an instruction the x86_64 kernel emulates for its uprobe (push of a register, nop, a
/// direct jmp/jcc/call): a probe on any other instruction also needs a single-step trap out of line, which costs
/// 10-15 µs more per hit in a VM (measured in bench/syscall-libcall.ps1). When the first instruction is not
/// emulated, the probe may move past a short straight-line prefix (endbr64, test, cmp, mov into a scratch
/// register) to the first emulated one, only if that prefix changes neither the stack pointer (the uretprobe takes
/// the return address from [rsp]), nor an argument register, nor memory, and if no direct branch, RIP-relative
/// address or symbol in the file lands inside the skipped bytes (so every call still passes the probe exactly once).
/// Other architectures keep the entry.
/// </summary>
public static class EntryProbePlacement
{
    public const int MaxSkipBytes = 24;
    public const int MaxSkipInstructions = 6;

    private static readonly HashSet<Register> Preserved = new()
    {
        Register.RDI, Register.RSI, Register.RDX, Register.RCX, Register.R8, Register.R9, Register.RSP,
    };

    // Choices per file version and function, kept with the ElfFile (so under its cache rule): the sweep of a whole
    // library for references takes 50-150 ms.
    private static readonly ConditionalWeakTable<ElfFile, ConcurrentDictionary<ulong, ProbePoint>> Chosen = new();

    public static IReadOnlyList<ProbePoint> Choose(ElfFile elf, IReadOnlyList<ElfSymbol> functions, Architecture architecture)
    {
        if (architecture != Architecture.X64) return functions.Select(f => new ProbePoint(f.FileOffset, 0, false, "entry")).ToArray();
        var known = Chosen.GetOrCreateValue(elf);
        if (functions.All(f => known.ContainsKey(f.Address))) return functions.Select(f => known[f.Address]).ToArray();
        var chosen = ChooseUncached(elf, functions);
        for (int i = 0; i < functions.Count; i++) known[functions[i].Address] = chosen[i];
        return chosen;
    }

    private static ProbePoint[] ChooseUncached(ElfFile elf, IReadOnlyList<ElfSymbol> functions)
    {
        var entries = functions.Select(f => new ProbePoint(f.FileOffset, 0, false, "entry")).ToArray();
        if (elf.ReadExecutableCode() is not { } code) return entries;
        var text = new ExecutableSegments(code);

        var moved = new Dictionary<int, ProbePoint>();
        for (int i = 0; i < functions.Count; i++)
        {
            var (atEntry, later) = Scan(text, functions[i]);
            entries[i] = atEntry;
            if (later is { } p) moved[i] = p;
        }
        if (moved.Count == 0) return entries;

        // Addresses strictly after an entry up to the moved probe: nothing may branch or point there.
        var inside = new Dictionary<ulong, int>();
        foreach (var (i, p) in moved)
            for (ulong a = functions[i].Address + 1; a <= functions[i].Address + (ulong)p.Skipped; a++) inside[a] = i;
        var unsafeFunctions = new HashSet<int>();
        foreach (var s in elf.Symbols)
            if (inside.TryGetValue(s.Address, out var hit)) unsafeFunctions.Add(hit);
        text.ForEachReference(target => { if (inside.TryGetValue(target, out var hit)) unsafeFunctions.Add(hit); });
        foreach (var (i, p) in moved)
            if (!unsafeFunctions.Contains(i)) entries[i] = p;
        return entries;
    }

    /// <summary>The entry, and, when its instruction is not emulated, the first emulated one after a safe prefix (still to check).</summary>
    private static (ProbePoint AtEntry, ProbePoint? Later) Scan(ExecutableSegments text, ElfSymbol function)
    {
        var code = text.At(function.Address, MaxSkipBytes + 16);
        var atEntry = new ProbePoint(function.FileOffset, 0, false, "entry");
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(code), function.Address);
        var info = new InstructionInfoFactory();
        int offset = 0;
        for (int k = 0; k < MaxSkipInstructions && offset <= MaxSkipBytes && offset < code.Length; k++)
        {
            decoder.Decode(out var instr);
            if (instr.IsInvalid || offset + instr.Length > code.Length) break;
            bool emulated = IsEmulated(code.AsSpan(offset, instr.Length));
            var point = new ProbePoint(function.FileOffset + (ulong)offset, offset, emulated, instr.Mnemonic.ToString().ToLowerInvariant());
            if (k == 0)
            {
                atEntry = point;
                if (emulated) break;
            }
            else if (emulated) return (atEntry, point);
            if (!IsSafeToSkip(instr, info)) break;
            offset += instr.Length;
        }
        return (atEntry, null);
    }

    /// <summary>
    /// The instructions arch/x86/kernel/uprobes.c emulates instead of single-stepping: branch_setup_xol_ops (nop 0x90,
    /// jmp rel8/rel32, call rel32, jcc rel8/rel32; no 0x66 prefix) and push_setup_xol_ops (push r64, REX.B 0x41 only).
    /// </summary>
    internal static bool IsEmulated(ReadOnlySpan<byte> b)
    {
        if (b.Length == 1) return b[0] == 0x90 || b[0] is >= 0x50 and <= 0x57;
        if (b.Length == 2 && b[0] == 0x41 && b[1] is >= 0x50 and <= 0x57) return true;
        // Branches, optionally with the bnd (0xf2) prefix.
        int i = b[0] == 0xf2 ? 1 : 0;
        if (i >= b.Length) return false;
        byte op = b[i];
        if (op is 0xeb or >= 0x70 and <= 0x7f) return b.Length - i == 2;
        if (op is 0xe9 or 0xe8) return b.Length - i == 5;
        return op == 0x0f && b.Length - i == 6 && b[i + 1] is >= 0x80 and <= 0x8f;
    }

    private static bool IsSafeToSkip(in Instruction instr, InstructionInfoFactory factory)
    {
        if (instr.FlowControl != FlowControl.Next || instr.StackPointerIncrement != 0 || instr.HasLockPrefix) return false;
        var info = factory.GetInfo(instr);
        foreach (var m in info.GetUsedMemory())
            if (m.Access is not (OpAccess.Read or OpAccess.CondRead or OpAccess.NoMemAccess)) return false;
        foreach (var r in info.GetUsedRegisters())
            if (r.Access is not (OpAccess.Read or OpAccess.CondRead) && Preserved.Contains(r.Register.GetFullRegister())) return false;
        return true;
    }

    /// <summary>The executable PT_LOAD segments of an x86-64 file, by link-time address.</summary>
    private sealed class ExecutableSegments
    {
        private readonly IReadOnlyList<(ulong Address, byte[] Bytes)> _segments;

        public ExecutableSegments(IReadOnlyList<(ulong, byte[])> segments) => _segments = segments;

        public byte[] At(ulong address, int count)
        {
            foreach (var (start, bytes) in _segments)
                if (address >= start && address < start + (ulong)bytes.Length)
                {
                    int from = (int)(address - start);
                    return bytes.AsSpan(from, Math.Min(count, bytes.Length - from)).ToArray();
                }
            return Array.Empty<byte>();
        }

        /// <summary>A linear sweep of the code: every direct branch target and RIP-relative address it holds.</summary>
        public void ForEachReference(Action<ulong> visit)
        {
            foreach (var (start, bytes) in _segments)
            {
                var decoder = Decoder.Create(64, new ByteArrayCodeReader(bytes), start);
                ulong end = start + (ulong)bytes.Length;
                while (decoder.IP < end)
                {
                    decoder.Decode(out var instr);
                    if (instr.Op0Kind == OpKind.NearBranch64) visit(instr.NearBranch64);
                    else if (instr.IsIPRelativeMemoryOperand) visit(instr.IPRelativeMemoryAddress);
                }
            }
        }
    }
}
