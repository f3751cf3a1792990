using System.Globalization;
using KernelDebug.Perf;
using KernelDebug.Perf.Unwind;
using Xunit;

namespace KernelDebug.Tests.Perf;

/// <summary>
/// DWARF unwinding against a recorded fixture (tests/fixtures/perf/dwarf: perf record --call-graph dwarf of a -O2
/// -fomit-frame-pointer program, its binary, and perf script's chains), so it runs on any host; and the expression
/// machine on the x86-64 PLT's CFA expression.
/// </summary>
public class DwarfUnwindTests
{
    private const string Binary = "/tmp/kd-dwarf-deep";

    private static string Fixture(string name)
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !Directory.Exists(Path.Combine(dir, "tests", "fixtures", "perf", "dwarf")))
            dir = Path.GetDirectoryName(dir);
        return Path.Combine(dir!, "tests", "fixtures", "perf", "dwarf", name);
    }

    /// <summary>perf script -F ip,sym,dso's chains: per sample, the frames of the program before the first libc frame.</summary>
    private static List<List<string>> ExpectedChains()
    {
        var chains = new List<List<string>>();
        List<string>? cur = null;
        bool inLibc = false;
        foreach (var line in File.ReadLines(Fixture("deep-O2.data.txt")))
        {
            if (line.Trim().Length == 0)
            {
                if (cur is not null) chains.Add(cur);
                cur = null;
                inLibc = false;
                continue;
            }
            cur ??= new List<string>();
            var t = line.Trim().Split(' ', 2);
            int paren = t[1].LastIndexOf(" (", StringComparison.Ordinal);
            string sym = t[1][..paren], dso = t[1][(paren + 2)..^1];
            if (dso != Binary) { inLibc |= !dso.StartsWith('['); continue; }
            if (!inLibc) cur.Add($"{t[0]} {sym}");
        }
        if (cur is not null) chains.Add(cur);
        return chains;
    }

    [Fact]
    public void UnwindsAsPerfScriptDoes()
    {
        using var file = PerfDataFile.Open(Fixture("deep-O2.data"));
        var decoder = new PerfDataDecoder(file, symbolPath: new[] { Fixture("root") });
        var samples = decoder.Samples().ToList();
        var expected = ExpectedChains();
        Assert.Equal(expected.Count, samples.Count);
        Assert.True(samples.Count > 20);
        int deep = 0;
        for (int i = 0; i < samples.Count; i++)
        {
            var ours = new List<string>();
            bool inLibc = false;
            foreach (var f in samples[i].CallChain)
            {
                if (f.Dso != Binary) { inLibc |= !f.Dso.StartsWith('['); continue; }
                if (!inLibc) ours.Add(string.Create(CultureInfo.InvariantCulture, $"{f.Offset:x} {f.Symbol}"));
            }
            Assert.Equal(expected[i], ours);
            if (ours.Count >= 10 && ours[0].EndsWith(" leaf", StringComparison.Ordinal) && ours[9].EndsWith(" main", StringComparison.Ordinal)) deep++;
        }
        // The chains are not trivially equal: most samples are in leaf, ten frames below main, unwound by CFI alone.
        Assert.True(deep > samples.Count / 2, $"{deep} of {samples.Count} samples have the whole chain");
        Assert.Equal(samples.Count, decoder.UnwoundSamples);
    }

    [Fact]
    public void EvaluatesThePltCfaExpression()
    {
        // DW_OP_breg7 (rsp) 8; DW_OP_breg16 (rip) 0; DW_OP_lit15; DW_OP_and; DW_OP_lit11; DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus
        byte[] expr = { 0x77, 0x08, 0x80, 0x00, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22 };
        var regs = new ulong[UnwindRegisters.Count];
        ulong valid = (1UL << 7) | (1UL << 16);
        regs[7] = 0x7ffc_0000_1000;
        regs[16] = 0x401026; // (rip & 15) = 6 < 11: the push has not run yet, CFA = rsp + 8
        Assert.Equal(0x7ffc_0000_1008UL, DwarfExpression.Evaluate(expr, regs, valid, ReadOnlySpan<byte>.Empty, 0));
        regs[16] = 0x40102b; // (rip & 15) = 11: after the push, CFA = rsp + 16
        Assert.Equal(0x7ffc_0000_1010UL, DwarfExpression.Evaluate(expr, regs, valid, ReadOnlySpan<byte>.Empty, 0));
        // A register the sample did not record: no value, never a guess.
        Assert.Null(DwarfExpression.Evaluate(expr, regs, 1UL << 7, ReadOnlySpan<byte>.Empty, 0));
    }
}
