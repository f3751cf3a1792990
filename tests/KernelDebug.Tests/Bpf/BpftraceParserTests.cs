using KernelDebug.Bpf;
using Xunit;

namespace KernelDebug.Tests.Bpf;

/// <summary>The bpftrace and stap parsers against output those tools printed on this host (tests/fixtures/bpf).</summary>
public class BpftraceParserTests
{
    private static string Fixture(string name)
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !Directory.Exists(Path.Combine(dir, "tests", "fixtures", "bpf"))) dir = Path.GetDirectoryName(dir);
        return Path.Combine(dir ?? throw new DirectoryNotFoundException("tests/fixtures/bpf"), "tests", "fixtures", "bpf", name);
    }

    private static List<object> ParseAll(string file)
    {
        var p = new BpftraceOutputParser();
        var all = File.ReadAllLines(Fixture(file)).SelectMany(p.ParseLine).ToList();
        all.AddRange(p.Flush());
        return all;
    }

    [Fact]
    public void EveryKindOfJsonOutputBecomesATypedObject()
    {
        var all = ParseAll("bpftrace-0.17-mixed.jsonl");
        var texts = all.OfType<BpftraceText>().ToList();
        Assert.Equal(new[] { "time", "value", "value", "printf", "printf" }, texts.Select(t => t.Kind));
        Assert.Equal(5, texts[1].Value);
        Assert.Equal("str", texts[2].Value);
        // printf text is joined across events and split into lines.
        Assert.Equal(new[] { "no newline end", "next" }, texts.Where(t => t.Kind == "printf").Select(t => t.Text));

        var hists = all.OfType<BpftraceHistogram>().ToList();
        var l = hists.Single(h => h.Name == "@l");
        Assert.Equal("[10, 20)", l.Buckets.Single().Range);
        var m = hists.Where(h => h.Name == "@m").ToList();
        Assert.Equal(new object[] { 2, -1 }, m.Select(h => h.Key));
        Assert.Equal("[0]", m[0].Buckets.Single().Range);
        Assert.Null(m[1].Buckets.Single().Min);
        Assert.Equal("(..., 0)", m[1].Buckets.Single().Range);
        Assert.Equal(new string('@', 52), m[1].Buckets.Single().Bar);

        var stats = all.OfType<BpftraceStats>().Single();
        Assert.Equal((1, 1L, 4L, 4L), ((int)stats.Key!, stats.Count, stats.Average, stats.Total));

        var maps = all.OfType<BpftraceMap>().ToDictionary(x => x.Name);
        Assert.Equal(7, maps["@z"].Value);
        Assert.True(maps["@z"].IsScalar);
        Assert.Equal(new object[] { 3, "x" }, (object[])maps["@p"].Entries![Tuple.Create(1, 2)]!);
        Assert.Equal(1, maps["@u"].Entries![1]);
        // The documented limit of bpftrace's JSON: a string key with a comma reads as two keys.
        Assert.Equal(1, maps["@str"].Entries![Tuple.Create("a", "b")]);
        Assert.Contains(all.OfType<BpftraceDiagnostic>(), d => d.Level == "verbose" && d.Message.Contains("attached 1 probes"));
    }

    [Fact]
    public void ProgramErrorsCarryTheirPlace()
    {
        var d = BpftraceOutputParser.ParseStderr(File.ReadAllLines(Fixture("bpftrace-0.17-unknown-identifier.stderr"))).ToList();
        Assert.Equal("verbose", d[0].Level);   // the RLIMIT_MEMLOCK complaint
        var e = d.Single(x => x.Level == "error");
        Assert.Equal(("stdin", 1, 24, 28), (e.File, e.Line!.Value, e.Column!.Value, e.EndColumn!.Value));
        Assert.Equal("Unknown identifier: 'nope'", e.Message);
        Assert.Equal(2, e.Context.Count);
        var ex = e.ToException();
        Assert.Equal("BpftraceProgramError", ex.ErrorId);
        Assert.Equal(23, ex.Position);
    }

    [Fact]
    public void StapParseErrorsCarryFileLineAndColumn()
    {
        var d = SystemTapRunner.ParseStderr(File.ReadAllLines(Fixture("stap-4.8-parse-error.stderr")), stubTree: true).ToList();
        var e = d.Single(x => x.Level == "error");
        Assert.Equal(("parse error", "expected literal string or number", "/tmp/kd-fixture.stp", 3, 1), (e.Kind, e.Message, e.File, e.Line!.Value, e.Column!.Value));
        Assert.Equal(3, e.Context.Length);
        Assert.DoesNotContain(d, x => x.Level == "warning");   // the stub tree's missing symbol table is expected
        Assert.Equal(System.Management.Automation.ErrorCategory.ParserError, SystemTapRunner.ToException(e).Category);
    }

    [Fact]
    public void PlainLinesAreBpftracesBeforeAttachAndTheCommandsAfter()
    {
        var p = new BpftraceOutputParser();
        var before = Assert.IsType<BpftraceDiagnostic>(p.ParseLine("No probes to attach").Single());
        Assert.Equal(("text", "No probes to attach"), (before.Level, before.Message));
        Assert.Single(p.ParseLine("{\"type\": \"attached_probes\", \"data\": {\"probes\": 1}}"));
        var after = Assert.IsType<BpftraceDiagnostic>(p.ParseLine("  hello from the command").Single());
        Assert.Equal(("output", "  hello from the command"), (after.Level, after.Message));
    }

    [Fact]
    public void StderrAfterTheAttachIsTheCommandsUnlessBpftracePrefixedIt()
    {
        var lines = new[] { "ERROR: Unknown error -1: couldn't set RLIMIT_MEMLOCK for bpftrace.", "0+0 records in", "WARNING: late", "  indented" };
        var d = BpftraceOutputParser.ParseStderr(lines, 1).Select(x => (x.Level, x.Message)).ToList();
        Assert.Equal(new[] { ("verbose", "Unknown error -1: couldn't set RLIMIT_MEMLOCK for bpftrace."), ("output", "0+0 records in"), ("warning", "late"), ("output", "  indented") }, d);
        // Never ready (or no command): every line is bpftrace's.
        Assert.DoesNotContain(BpftraceOutputParser.ParseStderr(lines, -1), x => x.Level == "output");
    }

    [Theory]
    [InlineData(0, "0"), InlineData(1, "1"), InlineData(512, "512"), InlineData(1000, "1000"), InlineData(1024, "1K"), InlineData(3072, "3K"),
     InlineData(524288, "512K"), InlineData(1048576, "1M"), InlineData(3145728, "3M"), InlineData(1L << 30, "1G"), InlineData(1L << 31, "2G"),
     InlineData(1L << 40, "1T"), InlineData(1L << 50, "1024T"), InlineData(5000000, "5000000")]
    public void BucketBoundsAreLabelledAsBpftraceLabelsThem(long bound, string label) => Assert.Equal(label, BpftraceOutputParser.Label(bound));

    [Fact]
    public void KeysAreTyped()
    {
        Assert.IsType<int>(BpftraceOutputParser.TypedKey("42"));
        Assert.IsType<long>(BpftraceOutputParser.TypedKey("5000000000"));
        Assert.IsType<string>(BpftraceOutputParser.TypedKey("bash"));
        Assert.Equal(Tuple.Create(7, "bash"), BpftraceOutputParser.TypedKey("7,bash"));
        Assert.IsType<string>(BpftraceOutputParser.TypedKey("\n    do_syscall_64+113\n"));
    }
}
