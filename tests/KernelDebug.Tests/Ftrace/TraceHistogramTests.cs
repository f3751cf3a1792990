using KernelDebug.Ftrace;
using Xunit;

namespace KernelDebug.Tests.Ftrace;

/// <summary>
/// The hist file parser on real kernel output (tests/fixtures/ftrace/hist: the debug kernel's, and the kernel
/// documentation's quoted output): typed keys, the labels of modifiers, values and totals.
/// </summary>
public class TraceHistogramTests
{
    private static string Hist(string name) => File.ReadAllText(Path.Combine(TraceDecodeTests.FixtureDir("hist"), name));

    // kmem:kmalloc's format as Documentation/trace/histogram.rst prints it.
    private const string KmallocFormat = "name: kmalloc\nID: 374\nformat:\n" +
        "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n" +
        "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n" +
        "\tfield:unsigned char common_preempt_count;\t\toffset:3;\tsize:1;\tsigned:0;\n" +
        "\tfield:int common_pid;\t\t\t\t\toffset:4;\tsize:4;\tsigned:1;\n\n" +
        "\tfield:unsigned long call_site;\t\t\t\toffset:8;\tsize:8;\tsigned:0;\n" +
        "\tfield:const void * ptr;\t\t\t\t\toffset:16;\tsize:8;\tsigned:0;\n" +
        "\tfield:size_t bytes_req;\t\t\t\t\toffset:24;\tsize:8;\tsigned:0;\n" +
        "\tfield:size_t bytes_alloc;\t\t\t\toffset:32;\tsize:8;\tsigned:0;\n" +
        "\tfield:gfp_t gfp_flags;\t\t\t\t\toffset:40;\tsize:4;\tsigned:0;\n";

    [Fact]
    public void TheDebugKernelsExecnameHistogramGivesPidsCommsAndHits()
    {
        var h = Assert.Single(TraceHistogramParser.Parse(Hist("kd-debug-6.1-execname.hist")));
        Assert.Equal("hist:keys=common_pid.execname:vals=hitcount:sort=hitcount:size=2048", h.Trigger);
        Assert.False(h.Paused);
        Assert.Equal(new[] { "common_pid" }, h.KeyNames);
        Assert.Equal(new[] { "execname" }, h.KeyModifiers);
        Assert.Equal(4, h.Buckets.Count);
        var ls = h.Buckets[3];
        Assert.Equal(153, Assert.IsType<int>(ls.Keys["common_pid"]));
        Assert.Equal("ls", ls.Labels["common_pid"]);
        Assert.Equal(12UL, ls.HitCount);
        Assert.Equal(12UL, ls.Values["hitcount"]);
        Assert.Equal(19, h.Hits);
        Assert.Equal((ulong)h.Hits!, (ulong)h.Buckets.Sum(b => (long)b.HitCount));
        Assert.Null(h.Entries); // that log ends after Hits
    }

    [Fact]
    public void SymbolKeysKeepTheAddressTypedByTheFieldAndTheSymbolAsLabel()
    {
        var format = TraceEventFormat.Parse("kmem", KmallocFormat);
        var h = Assert.Single(TraceHistogramParser.Parse(Hist("kmalloc-sym-values.hist"), format));
        Assert.Equal(new[] { "bytes_req", "bytes_alloc" }, h.ValueNames);
        var b = h.Buckets[0];
        Assert.Equal(0xffffffffa046041cUL, b.Keys["call_site"]);
        Assert.Equal("i915_gem_execbuffer2 [i915]", b.Labels["call_site"]);
        Assert.Equal(new[] { "hitcount", "bytes_req", "bytes_alloc" }, b.Values.Names);
        Assert.Equal(7403UL, b.HitCount);
        Assert.Equal(4084360UL, b.Values["bytes_req"]);
        Assert.Equal(5958016UL, b.Values["bytes_alloc"]);
        Assert.Equal("kmalloc", h.Event);

        var off = Assert.Single(TraceHistogramParser.Parse(Hist("kmalloc-sym-offset.hist"), format));
        Assert.Equal("seq_buf_alloc+0x1b/0x50", off.Buckets[1].Labels["call_site"]);
        Assert.Equal(0xffffffff811e2a1bUL, off.Buckets[1].Keys["call_site"]);
        Assert.Equal(3, off.Buckets.Count); // the documentation's "." rows are skipped
        Assert.Equal((26098L, 64L, 0L), (off.Hits!.Value, off.Entries!.Value, off.Dropped!.Value));
    }

    [Fact]
    public void HexLog2AndStringKeys()
    {
        var format = TraceEventFormat.Parse("kmem", KmallocFormat);
        var hex = Assert.Single(TraceHistogramParser.Parse(Hist("kmalloc-hex.hist"), format));
        Assert.Equal(0xffffffffa0099c06UL, hex.Buckets[^1].Keys["call_site"]);
        Assert.Equal(1780UL, hex.Buckets[^1].HitCount);
        Assert.Equal(46, hex.Entries);

        var log2 = Assert.Single(TraceHistogramParser.Parse(Hist("kmalloc-log2.hist"), format));
        Assert.Equal(new ulong[] { 32, 64, 128, 256, 512, 1024 }, log2.Buckets.Select(b => (ulong)b.Keys["bytes_req"]!).ToArray());
        Assert.Equal("~ 2^10", log2.Buckets[^1].Labels["bytes_req"]);
        Assert.Equal(21L, log2.Buckets.Sum(b => (long)b.HitCount));
        Assert.Equal(21, log2.Hits);

        var fork = TraceEventFormat.Parse("sched", File.ReadAllText(Path.Combine(TraceDecodeTests.FixtureDir("sched-syscalls"), "formats", "sched_sched_process_fork.format")));
        var comm = Assert.Single(TraceHistogramParser.Parse(Hist("fork-child-comm-paused.hist"), fork));
        Assert.True(comm.Paused);
        Assert.Equal("hist:keys=child_comm:vals=hitcount:sort=hitcount:size=256", comm.Trigger);
        Assert.Equal("dconf worker", comm.Buckets[0].Keys["child_comm"]);
        Assert.Equal("Socket Thread", comm.Buckets[2].Keys["child_comm"]);
        Assert.Equal(59UL, comm.Buckets[3].HitCount);
    }

    [Fact]
    public void CompoundKeysAndStacktraceKeys()
    {
        var h = Assert.Single(TraceHistogramParser.Parse(Hist("recvfrom-execname-size.hist")));
        Assert.Equal(new[] { "common_pid", "size" }, h.KeyNames);
        var b = h.Buckets.Single(x => x.Labels["common_pid"] as string == "gnome-terminal");
        Assert.Equal(3199, b.Keys["common_pid"]);
        Assert.Equal(4UL, b.Keys["size"]);
        Assert.Equal(408880UL, h.Buckets.Single(x => x.Labels["common_pid"] as string == "firefox").Keys["size"]);
        Assert.Equal(224, h.Entries);

        var st = Assert.Single(TraceHistogramParser.Parse(Hist("netif-stacktrace.hist")));
        Assert.Equal(2, st.Buckets.Count);
        Assert.Equal(15, st.Buckets[0].StackTrace!.Length);
        Assert.Equal("__netif_receive_skb_core+0x46d/0x990", st.Buckets[0].StackTrace![0]);
        Assert.Equal("ret_from_fork+0x42/0x70", st.Buckets[0].StackTrace![^1]);
        Assert.Equal(98UL, st.Buckets[1].HitCount);
        Assert.Equal(664329UL, st.Buckets[1].Values["len"]);
    }

    [Fact]
    public void SeveralTablesInOneFile()
    {
        var text = Hist("kmalloc-hex.hist") + "\n" + Hist("kmalloc-log2.hist");
        var tables = TraceHistogramParser.Parse(text);
        Assert.Equal(2, tables.Count);
        Assert.Equal(4775, tables[0].Hits);
        Assert.Equal(21, tables[1].Hits);
    }
}
