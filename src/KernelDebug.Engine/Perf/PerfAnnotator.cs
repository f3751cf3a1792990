using System.Globalization;
using ELFSharp.ELF;
using Iced.Intel;

namespace KernelDebug.Perf;

/// <summary>
/// perf annotate: the samples of one symbol counted per instruction, with the symbol's disassembly (Iced, AT&amp;T
/// syntax as objdump prints it, for x86-64; raw instruction words for other machines) and source lines from DWARF.
/// Every instruction of the symbol is listed, sampled or not, as perf annotate lists them.
/// </summary>
public static class PerfAnnotator
{
    private static readonly System.Text.RegularExpressions.Regex ScaleOne = new(@"\((%\w+)?,(%\w+)\)", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    private sealed class Group
    {
        public required string Event, Dso, Symbol;
        public required bool Kernel;
        public ulong Start, FileStart;
        public long Samples;
        public ulong Period;
        public readonly SortedDictionary<ulong, (long Samples, ulong Period)> ByAddress = new();
    }

    /// <summary>The annotation of every (event, DSO) in which a sample hit the symbol, in order of first appearance.</summary>
    public static List<PerfAnnotatedInstruction> Annotate(IEnumerable<PerfSample> samples, string symbol, string? eventName = null, CancellationToken cancel = default)
    {
        var groups = new Dictionary<(string, string), Group>();
        var order = new List<Group>();
        foreach (var s in samples)
        {
            if (!string.Equals(s.Symbol, symbol, StringComparison.Ordinal)) continue;
            if (eventName is not null && !EventMatches(s.Event, eventName)) continue;
            bool kernel = s.CallChain.Length > 0 ? s.CallChain[0].Kernel : s.Ip >= 0xffff800000000000;
            if (!groups.TryGetValue((s.Event, s.Dso), out var g))
            {
                groups[(s.Event, s.Dso)] = g = new Group { Event = s.Event, Dso = s.Dso, Symbol = symbol, Kernel = kernel };
                order.Add(g);
            }
            // The address objdump shows: the ELF virtual address for a file, the instruction pointer for the kernel.
            ulong address = kernel ? s.Ip : SymbolLayer.AddressOf(s.Dso, s.Offset);
            if (g.Samples == 0)
            {
                g.Start = address - s.SymbolOffset;
                g.FileStart = s.Offset - s.SymbolOffset;
            }
            ulong period = s.Period == 0 ? 1 : s.Period;
            g.Samples++;
            g.Period += period;
            g.ByAddress[address] = g.ByAddress.TryGetValue(address, out var v) ? (v.Samples + 1, v.Period + period) : (1, period);
        }
        var rows = new List<PerfAnnotatedInstruction>();
        foreach (var g in order)
        {
            cancel.ThrowIfCancellationRequested();
            rows.AddRange(Rows(g));
        }
        return rows;
    }

    /// <summary>perf's event names carry modifiers (cpu-clock:ppp): a name given without them matches too.</summary>
    private static bool EventMatches(string recorded, string wanted)
    {
        if (string.Equals(recorded, wanted, StringComparison.Ordinal)) return true;
        int colon = recorded.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 && !wanted.Contains(':', StringComparison.Ordinal) && string.Equals(recorded[..colon], wanted, StringComparison.Ordinal);
    }

    private static IEnumerable<PerfAnnotatedInstruction> Rows(Group g)
    {
        var code = g.Kernel ? null : SymbolLayer.Code(g.Dso, g.Start, g.FileStart);
        var listed = new List<(ulong Address, string? Text, string? Bytes)>();
        if (code is not null)
        {
            foreach (var insn in Disassemble(code.Value.Machine, code.Value.Bytes, g.Start, code.Value.Names)) listed.Add(insn);
        }
        // A sampled address the disassembly did not list (no file here, the kernel): a row of its own, so counts add up.
        var have = new HashSet<ulong>(listed.Select(l => l.Address));
        foreach (var a in g.ByAddress.Keys) if (!have.Contains(a)) listed.Add((a, null, null));
        listed.Sort((x, y) => x.Address.CompareTo(y.Address));
        var lines = code?.Lines ?? DwarfLineTable.Empty;
        foreach (var (address, text, bytes) in listed)
        {
            g.ByAddress.TryGetValue(address, out var hit);
            var source = lines.Find(address);
            yield return new PerfAnnotatedInstruction
            {
                Event = g.Event, Dso = g.Dso, Symbol = g.Symbol, Address = address, Offset = address - g.Start,
                Samples = hit.Samples, Period = hit.Period, Percent = g.Period == 0 ? 0 : 100.0 * hit.Period / g.Period,
                SymbolSamples = g.Samples, Instruction = text, Bytes = bytes,
                SourceFile = source?.File, SourceLine = source?.Line,
            };
        }
    }

    private static IEnumerable<(ulong, string?, string?)> Disassemble(Machine machine, byte[] bytes, ulong start, Func<ulong, string?> names)
    {
        if (machine == Machine.AMD64 || machine == Machine.Intel386)
        {
            var decoder = Decoder.Create(machine == Machine.AMD64 ? 64 : 32, new ByteArrayCodeReader(bytes), start);
            var formatter = new GasFormatter();
            // As objdump -d prints: mnemonic padded to 6, operands without spaces, lower-case hex with 0x.
            formatter.Options.FirstOperandCharIndex = 7;
            formatter.Options.SpaceAfterOperandSeparator = false;
            formatter.Options.UppercaseHex = false;
            formatter.Options.HexPrefix = "0x";
            formatter.Options.HexSuffix = null;
            formatter.Options.ShowBranchSize = false;
            formatter.Options.BranchLeadingZeros = false;
            formatter.Options.SmallHexNumbersInDecimal = false;
            formatter.Options.ShowZeroDisplacements = true;
            formatter.Options.RipRelativeAddresses = true;
            var output = new StringOutput();
            ulong end = start + (ulong)bytes.Length;
            while (decoder.IP < end)
            {
                ulong ip = decoder.IP;
                decoder.Decode(out var insn);
                string text;
                if (insn.IsInvalid) text = "(bad)";
                else if (insn.FlowControl is FlowControl.UnconditionalBranch or FlowControl.ConditionalBranch or FlowControl.Call
                         && insn.Op0Kind is OpKind.NearBranch16 or OpKind.NearBranch32 or OpKind.NearBranch64)
                {
                    // objdump's "jne    11e0 <alpha+0x10>": the target, then the symbol it lands in.
                    formatter.FormatMnemonic(insn, output);
                    var mnemonic = output.ToStringAndReset();
                    ulong target = insn.NearBranchTarget;
                    var name = names(target);
                    text = mnemonic.PadRight(6) + " " + target.ToString("x", CultureInfo.InvariantCulture) + (name is null ? string.Empty : $" <{name}>");
                }
                else
                {
                    formatter.Format(insn, output);
                    // objdump writes the scale 1 of an index register: (%rax,%rax,1).
                    text = ScaleOne.Replace(output.ToStringAndReset(), "($1,$2,1)");
                    if (insn.Mnemonic == Mnemonic.Nop) text = NopPrefixes(bytes, (int)(ip - start)) + text;
                    // objdump 2.40 writes no size suffix on calls, jumps, pushes and pops through memory (always 64-bit).
                    else if (insn.Mnemonic is Mnemonic.Call or Mnemonic.Jmp or Mnemonic.Push or Mnemonic.Pop && text.Length > 4 && text[..5] is "callq" or "pushq" or "jmpq " or "popq ")
                        text = text.Remove(text.IndexOf('q', StringComparison.Ordinal), 1).Insert(text.IndexOf(' ', StringComparison.Ordinal) - 1, " ");
                    // Shifts and rotates by one (D0/D1): objdump leaves the implicit count out.
                    if (insn.Op1Kind == OpKind.Immediate8 && insn.Immediate8 == 1 && insn.Code.ToString().EndsWith("_1", StringComparison.Ordinal))
                        text = text.Replace("$0x1,", string.Empty, StringComparison.Ordinal);
                }
                int offset = (int)(ip - start);
                yield return (ip, text, Convert.ToHexString(bytes, offset, Math.Min(insn.Length, bytes.Length - offset)).ToLowerInvariant());
            }
            yield break;
        }
        // No decoder served for this machine: the raw words (4 bytes: aarch64, arm, riscv's uncompressed code).
        for (int i = 0; i + 4 <= bytes.Length; i += 4)
        {
            uint word = BitConverter.ToUInt32(bytes, i);
            yield return (start + (ulong)i, $".inst  0x{word:x8}", Convert.ToHexString(bytes, i, 4).ToLowerInvariant());
        }
    }

    /// <summary>
    /// The padding prefixes objdump names before a long nop ("data16 cs nopw"): each prefix byte in order, but the
    /// operand-size prefix next to the opcode, which makes it nopw.
    /// </summary>
    private static string NopPrefixes(byte[] bytes, int offset)
    {
        int end = offset;
        while (end < bytes.Length && bytes[end] is 0x66 or 0x2e or 0x3e or 0x26 or 0x64 or 0x65 or 0x36) end++;
        int operandSize = Array.LastIndexOf(bytes, (byte)0x66, end - 1, end - offset);
        var sb = new System.Text.StringBuilder();
        for (int i = offset; i < end; i++)
            if (i != operandSize) sb.Append(bytes[i] switch { 0x66 => "data16 ", 0x2e => "cs ", 0x3e => "ds ", 0x26 => "es ", 0x64 => "fs ", 0x65 => "gs ", _ => "ss " });
        return sb.ToString();
    }

    /// <summary>
    /// The one place the annotation asks the symbol layer (Symbols.cs) and reads binaries: ELF addresses of file
    /// offsets, the symbol's extent as the symbol table sees it, branch-target names, its bytes and line table.
    /// </summary>
    private static class SymbolLayer
    {
        public static ulong AddressOf(string dso, ulong fileOffset) =>
            IsFile(dso) ? Open(dso).OffsetToAddress(fileOffset) : fileOffset;

        private static Symbols.ElfFile Open(string dso) => Symbols.ElfFile.TryOpen(dso) ?? Symbols.ElfFile.None(dso);

        private static bool IsFile(string dso) => dso.StartsWith('/') && !dso.StartsWith("//", StringComparison.Ordinal);

        public static (Machine Machine, byte[] Bytes, DwarfLineTable Lines, Func<ulong, string?> Names)? Code(string dso, ulong start, ulong fileStart)
        {
            if (!IsFile(dso)) return null;
            var symbols = Open(dso);
            var name = symbols.Table.Find(start, out var symStart);
            if (name is null || symStart != start) return null;
            // The symbol's end as the table resolves it (zero-size symbols extended as perf extends them): the first
            // address that no longer resolves to this symbol. Find is monotonic over the addresses after the start.
            ulong lo = start, hi = start + (1UL << 24);
            while (hi - lo > 1)
            {
                ulong mid = lo + (hi - lo) / 2;
                if (symbols.Table.Find(mid, out var s) is not null && s == start) lo = mid; else hi = mid;
            }
            ulong size = hi - start;
            var path = File.Exists(dso) ? dso : PerfDataDecoder.BuildIdCacheCopy(dso);
            if (path is null) return null;
            using var elf = Symbols.ElfFile.TryLoadRaw(path, out long length);
            if (elf is null || fileStart + size > (ulong)length) return null;
            var bytes = new byte[size];
            using (var handle = File.OpenHandle(path))
                if (RandomAccess.Read(handle, bytes, (long)fileStart) != bytes.Length) return null;
            var lines = DwarfLineTable.Load(elf);
            if (lines.Count == 0)
            {
                foreach (var debug in DebugFiles(dso, symbols.BuildId))
                {
                    using var d = Symbols.ElfFile.TryLoadRaw(debug, out _);
                    if (d is null) continue;
                    lines = DwarfLineTable.Load(d);
                    if (lines.Count > 0) break;
                }
            }
            string? NameOf(ulong address)
            {
                var n = symbols.Table.Find(address, out var s);
                if (n is null) return null;
                return address == s ? n : $"{n}+0x{(address - s).ToString("x", CultureInfo.InvariantCulture)}";
            }
            return (elf.Machine, bytes, lines, NameOf);
        }

        private static IEnumerable<string> DebugFiles(string path, string? buildId)
        {
            if (buildId is { Length: > 2 }) yield return $"/usr/lib/debug/.build-id/{buildId[..2]}/{buildId[2..]}.debug";
            yield return "/usr/lib/debug" + path + ".debug";
            yield return "/usr/lib/debug" + path;
        }
    }
}
