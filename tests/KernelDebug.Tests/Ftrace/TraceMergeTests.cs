using KernelDebug.Ftrace;
using KernelDebug.Host;
using KernelDebug.Native;
using Xunit;

namespace KernelDebug.Tests.Ftrace;

/// <summary>
/// The live merge across CPUs, made deterministic with trace_marker writes from a thread pinned to one CPU and then
/// another: what a busy host does by chance (an idle CPU records an event while the reader is still taking the
/// pages of a busy one) done on purpose.
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
            instance.SetClock("mono"); // one clock for every CPU
            var cpus = instance.Cpus;
            Assert.True(cpus.Count >= 2, $"needs two CPUs (this host has {cpus.Count})");
            int idle = cpus[0], busy = cpus[1];
            var got = new List<TraceRecord>();
            Exception? failure = null;
            // A thread of its own: the pinning must not stay on a pool thread.
            var thread = new Thread(() =>
            {
                try
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
                }
                catch (Exception e) { failure = e; }
            });
            thread.Start();
            thread.Join();
            if (failure is not null) throw new Xunit.Sdk.XunitException(failure.ToString());

            Assert.Equal(302, got.Count);
            int onIdle = got.FindIndex(r => (r.Fields["buf"] as string)?.StartsWith("on the idle cpu", StringComparison.Ordinal) == true);
            int after = got.FindIndex(r => (r.Fields["buf"] as string)?.StartsWith("after it", StringComparison.Ordinal) == true);
            Assert.Equal(idle, got[onIdle].Cpu);
            Assert.Equal(busy, got[after].Cpu);
            Assert.True(got[onIdle].Timestamp < got[after].Timestamp, "the markers were written in this order");
            Assert.True(onIdle < after, $"the idle CPU's record came out at {onIdle}, after the busy CPU's later record at {after}");
            for (int k = 1; k < got.Count; k++)
                Assert.True(got[k].Timestamp >= got[k - 1].Timestamp, $"record {k} (cpu {got[k].Cpu}, {got[k].Timestamp}) after record {k - 1} (cpu {got[k - 1].Cpu}, {got[k - 1].Timestamp})");
        }
        finally { instance.Remove(); }
    }

    private static unsafe void Pin(int cpu)
    {
        ulong mask = 1UL << cpu;
        Assert.Equal(0, Interop.sched_setaffinity(0, 8, &mask));
        Assert.Equal(cpu, Interop.sched_getcpu());
    }
}
