using System.Management.Automation;
using KernelDebug.Perf;

namespace KernelDebug.Commands;

/// <summary>perf script: the samples of a perf.data file (ours or Linux perf's), symbolized.</summary>
[Cmdlet(VerbsCommon.Get, "PerfSample", DefaultParameterSetName = PathSet)]
[OutputType(typeof(PerfSample))]
public sealed class GetPerfSampleCommand : PSCmdlet
{
    private const string PathSet = "Path", RecordingSet = "Recording";

    [Parameter(Position = 0, ParameterSetName = PathSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "perf.data";

    [Parameter(Mandatory = true, ParameterSetName = RecordingSet, ValueFromPipeline = true)]
    public PerfRecording? Recording { get; set; }

    private readonly CancellationTokenSource _cancel = new();

    protected override void ProcessRecord()
    {
        string path;
        if (ParameterSetName == RecordingSet)
        {
            if (Recording!.State == PerfRecordingState.Running)
            {
                WriteError(new ErrorRecord(new InvalidOperationException($"Recording {Recording.Id} is still running; stop it with Stop-PerfRecord (or wait with Wait-PerfRecord) first."),
                    "PerfRecordingRunning", ErrorCategory.ResourceBusy, Recording));
                return;
            }
            path = Recording.Path;
        }
        else path = GetUnresolvedProviderPathFromPSPath(Path);
        try
        {
            using var file = PerfDataFile.Open(path);
            var decoder = new PerfDataDecoder(file);
            foreach (var s in decoder.Samples(_cancel.Token)) WriteObject(s);
            if (decoder.Lost > 0) WriteWarning($"{path}: the kernel lost {decoder.Lost} samples (the ring buffers overflowed).");
        }
        catch (OperationCanceledException) { }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, path); }
    }

    protected override void StopProcessing() => _cancel.Cancel();
}
