using System.Diagnostics;
using KernelDebug.Common;
using KernelDebug.Syscall;
using Xunit;

namespace KernelDebug.Tests.Syscall;

public class BatchingPumpTests
{
    [Fact]
    public async Task DeliversEveryRecordInOrderAcrossFullAndPartialBatches()
    {
        var pump = new BatchingPump<int>(batchSize: 16, maxBatches: 2);
        var producer = Task.Run(() =>
        {
            for (int i = 0; i < 1000; i++) Assert.True(pump.Post(i));
            pump.Complete();
        });
        Assert.Equal(Enumerable.Range(0, 1000), pump.Drain().ToList());
        await producer;
    }

    [Fact]
    public void HandsOverAPartialBatchWhenTheProducerGoesQuiet()
    {
        var pump = new BatchingPump<int>(batchSize: 256);
        pump.Post(1);
        pump.Post(2);
        var sw = Stopwatch.StartNew();
        using var e = pump.Drain().GetEnumerator();
        Assert.True(e.MoveNext());
        Assert.Equal(1, e.Current);
        Assert.True(e.MoveNext());
        Assert.Equal(2, e.Current);
        // Not held back until the batch fills or the producer ends: about one FlushInterval.
        Assert.InRange(sw.Elapsed, TimeSpan.Zero, BatchingPump<int>.FlushInterval * 25);
        pump.Complete();
        Assert.False(e.MoveNext());
    }

    [Fact]
    public async Task AnIdleConsumerIsWokenByTheFirstRecord()
    {
        var pump = new BatchingPump<string>();
        var first = Task.Run(() => pump.Drain().First());
        await Task.Delay(100); // the consumer now waits with nothing queued
        pump.Post("a");
        Assert.Equal("a", await first.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task BlocksAFastProducerAtTheBoundAndCancelReleasesIt()
    {
        var pump = new BatchingPump<int>(batchSize: 4, maxBatches: 2);
        int posted = 0;
        bool? last = null;
        var producer = Task.Run(() =>
        {
            while (true)
            {
                bool ok = pump.Post(posted);
                if (!ok) { last = false; return; }
                Interlocked.Increment(ref posted);
            }
        });
        await Task.Delay(200);
        // Two full batches queued plus one filling, and the producer waits inside Post.
        Assert.InRange(Volatile.Read(ref posted), 8, 12);
        Assert.False(producer.IsCompleted);
        pump.Cancel();
        await producer.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(last);
        Assert.Empty(pump.Drain());
    }

    [Fact]
    public void RethrowsTheProducersErrorAfterItsRecords()
    {
        var pump = new BatchingPump<int>(batchSize: 8);
        for (int i = 0; i < 20; i++) pump.Post(i);
        pump.Complete(new InvalidOperationException("tracer failed"));
        var seen = new List<int>();
        var e = Assert.Throws<InvalidOperationException>(() => { foreach (var i in pump.Drain()) seen.Add(i); });
        Assert.Equal("tracer failed", e.Message);
        Assert.Equal(Enumerable.Range(0, 20), seen);
        Assert.False(pump.Post(99));
    }
}

public class ChildStopNotificationsTests
{
    [Fact]
    public void SilencesStopNotificationsWhileInUseAndPutsTheActionBack()
    {
        bool before = ChildStopNotifications.IsSuppressed;
        var outer = ChildStopNotifications.Suppress();
        var inner = ChildStopNotifications.Suppress();
        Assert.True(ChildStopNotifications.IsSuppressed);
        inner.Dispose();
        Assert.True(ChildStopNotifications.IsSuppressed); // still one user
        outer.Dispose();
        outer.Dispose(); // twice is harmless
        Assert.Equal(before, ChildStopNotifications.IsSuppressed);
    }
}
