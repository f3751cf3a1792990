using System.Diagnostics;
using KernelDebug.Ftrace;
using KernelDebug.Host;
using KernelDebug.Native;
using Xunit;

namespace KernelDebug.Tests.Ftrace;

/// <summary>
/// The live merge across CPUs, with trace_marker writes from threads pinned to CPUs: records come out in timestamp
/// order (also a record an idle CPU wrote while the busy one's pages were read), nothing is lost, and a stream whose
/// source never pauses still ends.
/// </summary>
public class TraceMergeTests
{
    [Fact]
    public void ARecordOfACpuFoundEmptyIsNotOvertakenByTheLaterPagesOfAnother()
    {
        Assert.True(KernelFileSystems.IsRoot, "needs root (tracefs instances)");
        var instance = FtraceInstance.Create();
        try
        {
            instance.SetClock("mono"); // one clock for every CPU, readable from user space
            var cpus = instance.Cpus;
            Assert.True(cpus.Count >= 2, $"needs two CPUs (this host has {cpus.Count})");
            int idle = cpus[0], busy = cpus[1];
            var got = new List<TraceRecord>();
            RunPinned(() =>
            {
                // Several pages on the busy CPU, none on the idle one.
                Pin(busy);
                for (int i = 0; i < 300; i++) instance.WriteMarker($"busy {i:D3} {new string('x', 60)}");
                using var reader = new TraceStreamReader(instance);
                using (var e = reader.ReadAvailable().GetEnumerator())
                {
                    // The reader has found the idle CPU empty and holds the first page of the busy one.
                    Assert.True(e.MoveNext());
                    got.Add(e.Current);
                    Pin(idle);
                    instance.WriteMarker("on the idle cpu");
                    Pin(busy);
                    instance.WriteMarker("after it, on the busy cpu");
                    while (e.MoveNext()) got.Add(e.Current);
                }
                got.AddRange(reader.ReadAvailable());
            });

            Assert.Equal(302, got.Count);
            int onIdle = got.FindIndex(r => Buf(r).StartsWith("on the idle cpu", StringComparison.Ordinal));
            int after = got.FindIndex(r => Buf(r).StartsWith("after it", StringComparison.Ordinal));
            Assert.Equal(idle, got[onIdle].Cpu);
            Assert.Equal(busy, got[after].Cpu);
            Assert.True(onIdle < after, $"the idle CPU's record came out at {onIdle}, after the busy CPU's later record at {after}");
            AssertMonotonic(got);
        }
        finally { instance.Remove(); }
    }

    [Fact]
    public void TwoBusyCpusComeOutInTimestampOrderAndWhole()
    {
        Assert.True(KernelFileSystems.IsRoot, "needs root (tracefs instances)");
        var instance = FtraceInstance.Create();
        try
        {
            instance.SetClock("mono");
            instance.SetBufferSizeKb(8192); // the whole run fits: nothing may be lost
            var cpus = instance.Cpus;
            Assert.True(cpus.Count >= 2, $"needs two CPUs (this host has {cpus.Count})");
            const int PerWriter = 20000;
            using var reader = new TraceStreamReader(instance);
            var got = new List<TraceRecord>();
            int writersDone = 0;
            var readerThread = new Thread(() => reader.RunUntil(r => { got.Add(r); return true; }, () => Volatile.Read(ref writersDone) == 2, 20, () => true));
            readerThread.Start();
            var writers = new[] { cpus[0], cpus[1] }.Select(cpu => new Thread(() =>
            {
                Pin(cpu);
                for (int i = 0; i < PerWriter; i++) instance.WriteMarker($"w{cpu} {i}");
                Interlocked.Increment(ref writersDone);
            })).ToList();
            writers.ForEach(w => w.Start());
            writers.ForEach(w => w.Join());
            Assert.True(readerThread.Join(TimeSpan.FromSeconds(60)), "the reader did not end after the writers stopped");

            var mine = got.Where(r => Buf(r).StartsWith('w')).ToList();
            Assert.Equal(2 * PerWriter, mine.Count);
            Assert.Equal(0, reader.LostEvents);
            AssertMonotonic(got);
            // Each writer's markers in its own order too.
            foreach (var cpu in new[] { cpus[0], cpus[1] })
            {
                var seq = mine.Where(r => Buf(r).StartsWith($"w{cpu} ", StringComparison.Ordinal)).Select(r => int.Parse(Buf(r).Split(' ')[1])).ToList();
                Assert.Equal(Enumerable.Range(0, PerWriter), seq);
            }
        }
        finally { instance.Remove(); }
    }

    [Fact]
    public void TheLastRoundEndsWhenReadingItselfIsTraced()
    {
        Assert.True(KernelFileSystems.IsRoot, "needs root (tracefs instances)");
        var instance = FtraceInstance.Create();
        try
        {
            instance.SetClock("mono");
            // What a kprobe on the read path does (the debug-kernel VM's hang): every record read makes a new one, so
            // the buffers never run dry. The sink writes a marker per record, on the reader's thread.
            for (int i = 0; i < 100; i++) instance.WriteMarker($"seed {i}");
            using var reader = new TraceStreamReader(instance);
            long n = 0;
            bool stop = false;
            var readerThread = new Thread(() => reader.RunUntil(_ =>
            {
                n++;
                if (Volatile.Read(ref stop)) return false;
                instance.WriteMarker("echo");
                return true;
            }, () => true, 20, () => true));
            readerThread.Start();
            bool ended = readerThread.Join(TimeSpan.FromSeconds(20));
            Volatile.Write(ref stop, true);
            readerThread.Join();
            Assert.True(ended, $"the final round had not ended after 20 s ({n} records read)");
            Assert.True(n >= 100, $"{n} records");
        }
        finally { instance.Remove(); }
    }

    private static string Buf(TraceRecord r) => r.Fields["buf"] as string ?? "";

    private static void AssertMonotonic(List<TraceRecord> got)
    {
        for (int k = 1; k < got.Count; k++)
            Assert.True(got[k].Timestamp >= got[k - 1].Timestamp,
                $"record {k} (cpu {got[k].Cpu}, {got[k].Timestamp}) came after record {k - 1} (cpu {got[k - 1].Cpu}, {got[k - 1].Timestamp})");
    }

    // A thread of its own: the pinning must not stay on a pool thread.
    private static void RunPinned(Action action)
    {
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try { action(); }
            catch (Exception e) { failure = e; }
        });
        thread.Start();
        thread.Join();
        if (failure is not null) throw new Xunit.Sdk.XunitException(failure.ToString());
    }

    private static unsafe void Pin(int cpu)
    {
        ulong mask = 1UL << cpu;
        Assert.Equal(0, Interop.sched_setaffinity(0, 8, &mask));
        Assert.Equal(cpu, Interop.sched_getcpu());
    }
}
