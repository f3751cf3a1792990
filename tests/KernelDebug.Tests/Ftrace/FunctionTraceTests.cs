using KernelDebug.Ftrace;
using Xunit;

namespace KernelDebug.Tests.Ftrace;

/// <summary>
/// Function and function_graph output. This host refuses those tracers, so the text decoders are tested on what the
/// debug kernel in /work/shared/kernels printed (tests/fixtures/ftrace/function-tracers/verify-output.txt).
/// </summary>
public class FunctionTraceTests
{
    private static string Fixture() => File.ReadAllText(Path.Combine(TraceDecodeTests.FixtureDir("function-tracers"), "verify-output.txt"));

    [Fact]
    public void FunctionTracerLinesBecomeCallsWithTheirParents()
    {
        var calls = FunctionTrace.ParseFunctionText(Fixture()).ToList();
        Assert.Equal(3, calls.Count);
        Assert.All(calls, c => Assert.Equal("vfs_read", c.Function));
        Assert.Equal(new[] { "ksys_read", "__x64_sys_pread64", "__x64_sys_pread64" }, calls.Select(c => c.Parent));
        Assert.Equal("cat", calls[0].Comm);
        Assert.Equal(136, calls[0].ProcessId);
        Assert.Equal(0, calls[0].Cpu);
        Assert.Equal(22_086_467_000UL, calls[0].Timestamp);
    }

    [Fact]
    public void FunctionGraphTextBecomesACallTreeWithDurations()
    {
        var roots = FunctionTrace.ParseGraphText(Fixture());
        var root = Assert.Single(roots);
        Assert.Equal("vfs_read", root.Function);
        Assert.Null(root.Duration); // the sample ends inside vfs_read
        Assert.Equal(new[] { "irq_enter_rcu", "__sysvec_apic_timer_interrupt" }, root.Children.Select(c => c.Function));
        Assert.Equal(TimeSpan.FromTicks(2484), root.Children[0].Duration); // 248.390 us, in 100 ns ticks
        var hrtimer = Assert.Single(root.Children[1].Children);
        Assert.Equal("hrtimer_interrupt", hrtimer.Function);
        Assert.Equal(2, hrtimer.Depth);
        var ktime = hrtimer.Children.Single(c => c.Function == "ktime_get_update_offsets_now");
        Assert.Equal(TimeSpan.FromTicks(237), ktime.Duration);
        Assert.Equal(TimeSpan.FromTicks(118), Assert.Single(ktime.Children).Duration);
        Assert.Equal(TimeSpan.FromTicks(74), hrtimer.Children[0].Duration);
        Assert.Contains(root.Descendants(), c => c.Function == "read_hpet" && c.Depth == 6);
    }

    [Fact]
    public void KallsymsResolvesAddressesAndOffsets()
    {
        var syms = KernelDebug.Symbols.Kallsyms.Parse("ffffffff81000000 T _stext\nffffffff81200000 t vfs_read\nffffffff81200800 T ksys_read\nffffffff81300000 d some_data\nffffffffc0000000 t mod_fn\t[e1000]\n"u8);
        Assert.Equal("vfs_read", syms.Describe(0xffffffff81200000));
        Assert.Equal("vfs_read+0x1f", syms.Describe(0xffffffff8120001f));
        Assert.Equal("ksys_read+0x10", syms.Describe(0xffffffff81200810));
        Assert.Equal("ksys_read+0xff800", syms.Describe(0xffffffff81300000)); // data symbols are not functions
        Assert.Equal("mod_fn+0x4", syms.Describe(0xffffffffc0000004));  // the module is not part of the name
        Assert.Equal("0x1000", syms.Describe(0x1000));
    }

    [Fact]
    public void GraphRecordsAssembleAsTheyStream()
    {
        var entry = TraceEventFormat.Parse("ftrace", "name: funcgraph_entry\nID: 11\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n\tfield:unsigned long func;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:unsigned int depth;\toffset:16;\tsize:4;\tsigned:0;\n");
        var exit = TraceEventFormat.Parse("ftrace", "name: funcgraph_exit\nID: 10\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n\tfield:unsigned long func;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:unsigned int depth;\toffset:16;\tsize:4;\tsigned:0;\n\tfield:unsigned int overrun;\toffset:20;\tsize:4;\tsigned:0;\n\tfield:unsigned long long calltime;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:unsigned long long rettime;\toffset:32;\tsize:8;\tsigned:0;\n");
        TraceRecord E(ulong f, uint d, ulong ts) => new() { System = "ftrace", Name = "funcgraph_entry", Timestamp = ts, Fields = new TraceFieldValues(entry.FieldNames, new object?[] { f, d }) };
        TraceRecord X(ulong f, uint d, ulong call, ulong ret) => new() { System = "ftrace", Name = "funcgraph_exit", Timestamp = ret, Fields = new TraceFieldValues(exit.FieldNames, new object?[] { f, d, 0u, call, ret }) };
        var syms = KernelDebug.Symbols.Kallsyms.Parse("0000000000000100 t outer\n0000000000000200 t inner\n"u8);
        var a = new FunctionGraphAssembler(syms);
        Assert.Null(a.Add(E(0x100, 0, 1000)));
        Assert.Null(a.Add(E(0x200, 1, 1100)));
        Assert.Null(a.Add(X(0x200, 1, 1100, 1600)));
        var done = a.Add(X(0x100, 0, 1000, 5000));
        Assert.NotNull(done);
        Assert.Equal("outer", done!.Function);
        Assert.Equal(TimeSpan.FromTicks(40), done.Duration);
        Assert.Equal(TimeSpan.FromTicks(5), Assert.Single(done.Children).Duration);
        Assert.Null(a.Add(E(0x100, 0, 6000)));
        Assert.Single(a.Flush());
    }
}
