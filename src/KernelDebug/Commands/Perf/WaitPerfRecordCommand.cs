using System.Management.Automation;

namespace KernelDebug.Commands;

/// <summary>Waits until recordings end: their command exits, their duration passes, or they are stopped.</summary>
[Cmdlet(VerbsLifecycle.Wait, "PerfRecord")]
[OutputType(typeof(PerfRecording))]
public sealed class WaitPerfRecordCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    public PerfRecording[] Recording { get; set; } = Array.Empty<PerfRecording>();

    [Parameter]
    public TimeSpan? Timeout { get; set; }

    private readonly CancellationTokenSource _cancel = new();

    protected override void ProcessRecord()
    {
        foreach (var r in Recording)
        {
            if (!PerfRecordOutput.Wait(this, r, Timeout, _cancel.Token))
            {
                if (_cancel.IsCancellationRequested) return;
                WriteError(new ErrorRecord(new TimeoutException($"Recording {r.Id} is still running after {Timeout}."), "PerfRecordWaitTimeout", ErrorCategory.OperationTimeout, r));
                continue;
            }
            WriteObject(r);
        }
    }

    protected override void StopProcessing() => _cancel.Cancel();
}

/// <summary>Waits for a recording on the pipeline thread with a progress bar: samples so far, and how far through its -Duration.</summary>
internal static class PerfRecordingWait
{
    public static bool Wait(PSCmdlet cmdlet, PerfRecording recording, TimeSpan? timeout, CancellationToken cancel)
    {
        var recorder = recording.Recorder!;
        var progress = new CmdletProgress(cmdlet, $"Recording {recording.Id} -> {recording.Path}");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            while (true)
            {
                var slice = CmdletProgress.Interval;
                if (timeout is { } t)
                {
                    var left = t - clock.Elapsed;
                    if (left <= TimeSpan.Zero) return recorder.Wait(TimeSpan.Zero, cancel, () => PerfRecordOutput.Flush(cmdlet, recording));
                    if (left < slice) slice = left;
                }
                if (recorder.Wait(slice, cancel, () => PerfRecordOutput.Flush(cmdlet, recording))) return true;
                if (cancel.IsCancellationRequested) return false;
                var elapsed = DateTime.Now - recording.StartTime;
                string status() => $"{recording.Samples} samples, {elapsed.TotalSeconds:F0} s" + (recorder.Duration is { } d ? $" of {d.TotalSeconds:F0} s" : "");
                if (recorder.Duration is { } total) progress.ReportTime(elapsed, total, status);
                else progress.Report(status);
            }
        }
        finally { progress.Complete(); }
    }
}
