using System.Buffers.Binary;
using KernelDebug.Native;
using KernelDebug.Perf;
using Xunit;

namespace KernelDebug.Tests.Perf;

/// <summary>
/// The decoder's mapping bookkeeping and its per-mapping frame caches: a frame resolved before a mapping was split,
/// replaced, re-announced or inherited by a fork must resolve as perf would after it.
/// </summary>
public class PerfDecoderMapTests
{
    private const ulong Id = 7;
    private const ushort User = PerfFormat.MiscUser, Kernel = PerfFormat.MiscKernel;
    private ulong _time = 1_000;

    // sample_id_all trailer for IDENTIFIER|TID|TIME: pid, tid, time, identifier
    private byte[] Trailer(int pid)
    {
        var t = new byte[24];
        BinaryPrimitives.WriteInt32LittleEndian(t, pid);
        BinaryPrimitives.WriteInt32LittleEndian(t.AsSpan(4), pid);
        BinaryPrimitives.WriteUInt64LittleEndian(t.AsSpan(8), _time++);
        BinaryPrimitives.WriteUInt64LittleEndian(t.AsSpan(16), Id);
        return t;
    }

    private static byte[] Record(uint type, ushort misc, params byte[][] parts)
    {
        int size = 8 + parts.Sum(p => p.Length);
        var r = new byte[size];
        BinaryPrimitives.WriteUInt32LittleEndian(r, type);
        BinaryPrimitives.WriteUInt16LittleEndian(r.AsSpan(4), misc);
        BinaryPrimitives.WriteUInt16LittleEndian(r.AsSpan(6), (ushort)size);
        int at = 8;
        foreach (var p in parts) { p.CopyTo(r, at); at += p.Length; }
        return r;
    }

    private static byte[] U64s(params ulong[] v)
    {
        var b = new byte[v.Length * 8];
        for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(i * 8), v[i]);
        return b;
    }

    private static byte[] Pids(params int[] v)
    {
        var b = new byte[v.Length * 4];
        for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(i * 4), v[i]);
        return b;
    }

    private static byte[] Name(string s)
    {
        var b = new byte[(s.Length + 8) & ~7];
        System.Text.Encoding.UTF8.GetBytes(s).CopyTo(b, 0);
        return b;
    }

    private byte[] Mmap(int pid, ulong start, ulong len, ulong pgoff, string path) =>
        Record(PerfFormat.RecordMmap, User, Pids(pid, pid), U64s(start, len, pgoff), Name(path), Trailer(pid));

    private byte[] Fork(int pid, int ppid) => Record(PerfFormat.RecordFork, 0, Pids(pid, ppid, pid, ppid), U64s(_time), Trailer(pid));

    // sample_type IDENTIFIER|IP|TID|TIME|PERIOD|CALLCHAIN
    private byte[] Sample(int pid, ushort misc, ulong ip, params ulong[] chain) =>
        Record(PerfFormat.RecordSample, misc, U64s(Id, ip), Pids(pid, pid), U64s(_time++, 1, (ulong)chain.Length), U64s(chain));

    /// <summary>A perf.data of one cpu-clock attr (IDENTIFIER|IP|TID|TIME|PERIOD|CALLCHAIN, sample_id_all) holding the records.</summary>
    private string WriteFile(string name, IEnumerable<byte[]> records, bool finishedRound)
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"kerneldebug-xunit-{name}-{Environment.ProcessId}.data");
        var attr = PerfEventCatalog.Parse("cpu-clock").ToAttr(PerfAttrFlags.SampleIdAll);
        attr.SampleType = PerfFormat.SampleIdentifier | PerfFormat.SampleIp | PerfFormat.SampleTid | PerfFormat.SampleTime |
            PerfFormat.SamplePeriod | PerfFormat.SampleCallchain;
        using var w = new PerfDataWriter(path, new[] { (attr, "cpu-clock", new[] { Id }) });
        foreach (var r in records) w.WriteRecords(r);
        w.NoteSampleTime(1_000);
        w.NoteSampleTime(_time);
        if (finishedRound) w.WriteFinishedRound();
        w.Finish(new[] { "test" });
        return path;
    }

    [Fact]
    public void MappingsOfSpecialFilesGiveUnknownFramesWithoutHangingOrAborting()
    {
        // A FIFO hung the decode (and Ctrl+C could not stop it); /proc/1/mem and /dev/tty aborted it.
        var fifo = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"kerneldebug-xunit-fifo-{Environment.ProcessId}");
        Assert.Equal(0, System.Diagnostics.Process.Start("mkfifo", fifo)!.WaitForExitAsync().Wait(10_000) ? 0 : 1);
        var records = new List<byte[]>
        {
            Mmap(100, 0x400000, 0x10000, 0, fifo),
            Mmap(100, 0x500000, 0x10000, 0, "/proc/1/mem"),
            Mmap(100, 0x600000, 0x10000, 0, "/dev/tty"),
            Mmap(100, 0x700000, 0x10000, 0, "/dev/null"),
            Mmap(100, 0x800000, 0x10000, 0, "/"),
            Sample(100, User, 0x401000), Sample(100, User, 0x501000), Sample(100, User, 0x601000), Sample(100, User, 0x701000), Sample(100, User, 0x801000),
        };
        var path = WriteFile("special", records, finishedRound: true);
        Task<List<PerfSample>>? decode = null;
        try
        {
            using var file = PerfDataFile.Open(path);
            decode = Task.Run(() => new PerfDataDecoder(file, KernelDebug.Symbols.Kallsyms.Load("/nonexistent")).Samples().ToList());
            Assert.True(decode.Wait(TimeSpan.FromSeconds(30)), "the decode hung");
            var samples = decode.Result;
            Assert.Equal(new[] { fifo, "/proc/1/mem", "/dev/tty", "/dev/null", "/" }, samples.Select(s => s.Dso));
            Assert.All(samples, s => Assert.Equal("[unknown]", s.Symbol));
        }
        finally
        {
            // A reader stuck in open() is let go by a writer, so a failure does not leave a thread behind.
            if (decode is { IsCompleted: false }) { using var fs = new FileStream(fifo, FileMode.Open, FileAccess.Write, FileShare.ReadWrite); }
            File.Delete(path);
            File.Delete(fifo);
        }
    }

    [Fact]
    public void FramesFollowSplitReplacedReannouncedAndForkedMappings()
    {
        const ulong ContextUser = PerfFormat.ContextUser, ContextKernel = PerfFormat.ContextKernel;
        var records = new List<byte[]>
        {
            Mmap(100, 0x400000, 0x10000, 0, "/nonexistent/a"),
            Sample(100, User, 0x401000, ContextUser, 0x401000, 0x407000),      // resolved (and cached) in a's one piece
            Mmap(100, 0x404000, 0x2000, 0x9000, "/nonexistent/b"),              // splits a in two
            Sample(100, User, 0x401000, ContextUser, 0x401000, 0x405000, 0x407000, 0x40f000),
            Fork(200, 100),
            Mmap(200, 0x400000, 0x10000, 0x1000, "/nonexistent/c"),             // the child's exec: not the parent's
            Sample(100, User, 0x407000),
            Sample(200, User, 0x407000),
            Mmap(100, 0x404000, 0x2000, 0x9000, "/nonexistent/b"),              // announced again, unchanged
            Sample(100, Kernel, 0xffffffff81000010, ContextKernel, 0xffffffff81000010, ContextUser, 0x405000),
            Sample(300, User, 0x401000),                                        // a pid without mappings
            Sample(100, User, 0x401000, 0xfffffffffffff001, 0x401000),          // an invalid context drops the chain
            Sample(100, User, 0x407000),                                        // resolved in a (again: pid 200 took its slot)
            Mmap(100, 0x406000, 0x2000, 0, "/nonexistent/d"),                  // replaces where 0x407000 was resolved
            Sample(100, User, 0x407000),
        };
        var path = WriteFile("maps", records, finishedRound: true);
        try
        {
            using var file = PerfDataFile.Open(path);
            var samples = new PerfDataDecoder(file, KernelDebug.Symbols.Kallsyms.Load("/nonexistent")).Samples().ToList();
            Assert.Equal(9, samples.Count);
            static string Frames(PerfSample s) => string.Join(" ", s.CallChain.Select(f => $"{f.Dso}:{f.Offset:x}{(f.Kernel ? ":k" : "")}"));

            Assert.Equal(("/nonexistent/a", 0x1000UL), (samples[0].Dso, samples[0].Offset));
            Assert.Equal("/nonexistent/a:1000 /nonexistent/a:7000", Frames(samples[0]));
            Assert.Equal("/nonexistent/a:1000 /nonexistent/b:a000 /nonexistent/a:7000 /nonexistent/a:f000", Frames(samples[1]));
            Assert.Equal(("/nonexistent/a", 0x7000UL), (samples[2].Dso, samples[2].Offset));
            Assert.Equal(("/nonexistent/c", 0x8000UL, 200), (samples[3].Dso, samples[3].Offset, samples[3].ProcessId));
            Assert.Equal(("[kernel.kallsyms]", "[unknown]"), (samples[4].Dso, samples[4].Symbol));
            Assert.Equal("[kernel.kallsyms]:ffffffff81000010:k /nonexistent/b:a000", Frames(samples[4]));
            Assert.Equal(("[unknown]", 0x401000UL), (samples[5].Dso, samples[5].Offset));
            Assert.Empty(samples[6].CallChain);
            Assert.Equal(("/nonexistent/a", 0x7000UL), (samples[7].Dso, samples[7].Offset));
            Assert.Equal(("/nonexistent/d", 0x1000UL), (samples[8].Dso, samples[8].Offset));
            // Frames are shared between samples that hit the same address in the same mapping.
            Assert.Same(samples[0].CallChain[0], samples[1].CallChain[0]);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void CancellationStopsADecodeWithoutFlushRounds()
    {
        // No FINISHED_ROUND: the whole file is one batch, so cancellation must be seen inside it.
        var path = WriteFile("norounds", Enumerable.Range(0, 40_000).Select(_ => Sample(100, User, 0x401000)), finishedRound: false);
        try
        {
            using var file = PerfDataFile.Open(path);
            Assert.Equal(40_000, new PerfDataDecoder(file, KernelDebug.Symbols.Kallsyms.Load("/nonexistent")).Samples().Count());
            using var cancelled = new CancellationTokenSource();
            cancelled.Cancel();
            var decoder = new PerfDataDecoder(file, KernelDebug.Symbols.Kallsyms.Load("/nonexistent"));
            Assert.Throws<OperationCanceledException>(() => decoder.Samples(cancelled.Token).First());
            Assert.True(decoder.Records < 40_000, $"read {decoder.Records} records after cancellation");
        }
        finally { File.Delete(path); }
    }

    private readonly record struct Keyed(int Key, int Order) : IComparable<Keyed>
    {
        public int CompareTo(Keyed other) => Key.CompareTo(other.Key);
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 2)]
    [InlineData(1000, 1)]
    [InlineData(1000, 2)]
    [InlineData(1001, 7)]
    [InlineData(5000, 5000)]
    public void RunMergeSortIsAStableSort(int count, int runs)
    {
        // runs sorted runs (as a round's CPU buffers are), with many equal keys to show stability
        var random = new Random(count * 31 + runs);
        var items = new List<Keyed>();
        for (int r = 0; r < runs; r++)
        {
            var run = Enumerable.Range(0, count / runs).Select(_ => random.Next(0, count / 4 + 1)).OrderBy(k => k).ToList();
            items.AddRange(run.Select(k => new Keyed(k, items.Count + 0)));
        }
        items = items.Select((k, i) => k with { Order = i }).ToList();
        var expected = items.OrderBy(k => k.Key).ToArray(); // LINQ's OrderBy is stable
        var actual = items.ToArray();
        Keyed[]? scratch = null;
        RunMergeSort.Sort(actual.AsSpan(), ref scratch);
        Assert.Equal(expected, actual);
    }
}
