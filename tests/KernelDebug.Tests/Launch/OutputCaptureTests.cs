using KernelDebug.Common;
using KernelDebug.Launch;
using Xunit;

namespace KernelDebug.Tests.Launch;

public class OutputCaptureTests
{
    private static List<ProgramOutputLine> TakeUntilEnd(OutputCapture capture, TimeSpan limit)
    {
        var lines = new List<ProgramOutputLine>();
        var end = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < end)
        {
            while (capture.TryTake(out var l)) lines.Add(l);
            if (capture.WaitForEnd(TimeSpan.FromMilliseconds(10)))
            {
                while (capture.TryTake(out var l)) lines.Add(l);
                return lines;
            }
        }
        throw new TimeoutException("The pipes never reached end of file.");
    }

    private static LaunchedProcess Start(string command, string[] args, StandardStreamRequest streams, OutputCapture? capture) =>
        ChildLauncher.StartStopped(LaunchTarget.Create(command, args, "/tmp", streams, capture));

    [Fact]
    public void WithoutATerminalStdoutAndStderrArriveAsTaggedLinesAndStdinIsEmpty()
    {
        int wakes = 0;
        using var capture = new OutputCapture(dataAvailable: () => Interlocked.Increment(ref wakes));
        // busybox sh: reads stdin (empty: /dev/null) and writes to both streams, the last line without its end.
        using var child = Start("busybox", new[] { "sh", "-c", "read x; echo \"in:$x\"; echo out1; echo err1 >&2; printf tail" }, new StandardStreamRequest(), capture);
        child.Resume();
        Assert.Equal(0, child.WaitForExit().ExitCode);
        var lines = TakeUntilEnd(capture, TimeSpan.FromSeconds(10));
        Assert.Equal(new[] { "in:", "out1", "tail" }, lines.Where(l => l.Stream == ProgramStream.StandardOutput).Select(l => l.Text));
        Assert.Equal(new[] { "err1" }, lines.Where(l => l.Stream == ProgramStream.StandardError).Select(l => l.Text));
        Assert.True(wakes > 0);
    }

    [Fact]
    public void AProgramWritingMoreThanTheBufferWaitsForTheReaderAndNothingIsLost()
    {
        using var capture = new OutputCapture(maxBytes: 64 << 10);
        using var child = Start("busybox", new[] { "seq", "1", "100000" }, new StandardStreamRequest(), capture);
        child.Resume();
        // Taken only after a while: the program sits in write() meanwhile, and its exit waits for the reader.
        Thread.Sleep(300);
        var lines = new List<ProgramOutputLine>();
        var reaper = Task.Run(() => child.WaitForExit());
        lines.AddRange(TakeUntilEnd(capture, TimeSpan.FromSeconds(30)));
        Assert.Equal(0, reaper.Result.ExitCode);
        Assert.Equal(100000, lines.Count);
        Assert.Equal("100000", lines[^1].Text);
        Assert.Equal(0, capture.DroppedLines);
    }

    [Fact]
    public void DropOldestKeepsMemoryBoundedAndCountsWhatItDropped()
    {
        using var capture = new OutputCapture(maxBytes: 16 << 10, overflow: CaptureOverflow.DropOldest);
        using var child = Start("busybox", new[] { "seq", "1", "50000" }, new StandardStreamRequest(), capture);
        child.Resume();
        Assert.Equal(0, child.WaitForExit().ExitCode);
        Assert.True(capture.WaitForEnd(TimeSpan.FromSeconds(10)));
        var lines = TakeUntilEnd(capture, TimeSpan.FromSeconds(10));
        Assert.Equal("50000", lines[^1].Text);
        Assert.True(capture.DroppedLines > 0);
        Assert.Equal(50000, lines.Count + capture.DroppedLines);
    }

    [Fact]
    public void FilesDiscardAndTheTerminalPlanTheStreams()
    {
        var terminal = LaunchTarget.Create("x", Array.Empty<string>(), null, new StandardStreamRequest { HasTerminal = true }, null);
        Assert.Null(terminal.Options.StandardInputPath);
        Assert.Null(terminal.Options.StandardOutputPath);
        Assert.Null(terminal.Options.Capture);

        var discard = LaunchTarget.Create("x", Array.Empty<string>(), null, new StandardStreamRequest { DiscardOutput = true, ErrorPath = "/tmp/e" }, null);
        Assert.Equal(LaunchTarget.NullDevice, discard.Options.StandardInputPath);
        Assert.Equal(LaunchTarget.NullDevice, discard.Options.StandardOutputPath);
        Assert.Equal("/tmp/e", discard.Options.StandardErrorPath);
        Assert.Null(discard.Options.Capture);

        Assert.Throws<ArgumentException>(() => LaunchTarget.Create("x", Array.Empty<string>(), null, new StandardStreamRequest(), null));
        Assert.False(LaunchTarget.NeedsCapture(new StandardStreamRequest { OutputPath = "/tmp/o", ErrorPath = "/tmp/e" }));
        Assert.True(LaunchTarget.NeedsCapture(new StandardStreamRequest { OutputPath = "/tmp/o" }));
    }

    [Fact]
    public void OneFileForBothStreamsKeepsTheirOrder()
    {
        var file = Path.Combine(Path.GetTempPath(), $"kd-both-{Guid.NewGuid():N}");
        try
        {
            using var child = Start("busybox", new[] { "sh", "-c", "echo a; echo b >&2; echo c" }, new StandardStreamRequest { OutputPath = file, ErrorPath = file }, null);
            child.Resume();
            child.WaitForExit();
            Assert.Equal(new[] { "a", "b", "c" }, File.ReadAllLines(file));
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void WakeRunsTheBetweenActionOnTheDrainingThreadWithoutARecord()
    {
        using var pump = new BatchingPump<int>();
        int between = 0;
        var drained = Task.Run(() =>
        {
            foreach (var _ in pump.Drain(() => Interlocked.Increment(ref between))) { }
        });
        Thread.Sleep(50);
        pump.Wake();
        var until = DateTime.UtcNow.AddSeconds(5);
        while (Volatile.Read(ref between) == 0 && DateTime.UtcNow < until) Thread.Sleep(5);
        Assert.True(Volatile.Read(ref between) > 0);
        pump.Complete();
        Assert.True(drained.Wait(TimeSpan.FromSeconds(5)));
    }
}
