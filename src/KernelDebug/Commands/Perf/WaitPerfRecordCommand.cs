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
