using System.Management.Automation;
using KernelDebug.Perf;

namespace KernelDebug.Commands;

/// <summary>Ends recordings and finishes their perf.data files.</summary>
[Cmdlet(VerbsLifecycle.Stop, "PerfRecord", DefaultParameterSetName = "Recording", SupportsShouldProcess = true)]
[OutputType(typeof(PerfRecording))]
public sealed class StopPerfRecordCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = "Recording")]
    public PerfRecording[] Recording { get; set; } = Array.Empty<PerfRecording>();

    [Parameter(Mandatory = true, ParameterSetName = "Id")]
    public int[] Id { get; set; } = Array.Empty<int>();

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        IEnumerable<PerfRecording> targets = Recording;
        if (ParameterSetName == "Id")
        {
            var running = PerfRecorder.Running.ToDictionary(r => r.Id);
            var found = new List<PerfRecording>();
            foreach (var id in Id)
            {
                if (running.TryGetValue(id, out var r)) found.Add(r);
                else WriteError(new ErrorRecord(new ItemNotFoundException($"There is no running recording with id {id}."), "PerfRecordingNotFound", ErrorCategory.ObjectNotFound, id));
            }
            targets = found;
        }
        foreach (var r in targets)
        {
            if (r.State == PerfRecordingState.Running && ShouldProcess($"recording {r.Id} -> {r.Path}", "Stop perf recording"))
                r.Recorder?.Stop();
            if (r.State != PerfRecordingState.Running) r.Recorder?.Output?.WaitForEnd(TimeSpan.FromSeconds(1));
            PerfRecordOutput.Flush(this, r);
            if (r.State == PerfRecordingState.Failed)
                WriteError(new ErrorRecord(new InvalidOperationException($"Recording {r.Id} failed: {r.Error}"), "PerfRecordFailed", ErrorCategory.InvalidResult, r));
            if (PassThru) WriteObject(r);
        }
    }
}
