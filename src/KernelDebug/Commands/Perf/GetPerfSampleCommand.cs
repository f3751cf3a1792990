using System.Management.Automation;
using KernelDebug.Common;
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

    /// <summary>Directories to find the recorded binaries under first (perf's --symfs): root + path, or root/.build-id/.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? SymbolPath { get; set; }

    /// <summary>The recording machine's kallsyms (perf's --kallsyms): kernel frames of a recording from another boot or machine.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Kallsyms { get; set; }

    /// <summary>The recorded kernel's image with symbols (perf's --vmlinux); used before any kallsyms.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Vmlinux { get; set; }

    private volatile PipelinePump<PerfSample[]>? _pump;
    private volatile bool _stopping;
    // Stops a FIFO's wait for its writer or its data (a stopped pipeline, or a downstream end).
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
            // Per file: a downstream end (Select-Object -First) stops this FIFO's wait, not the next file's.
            using var fileCancel = CancellationTokenSource.CreateLinkedTokenSource(_cancel.Token);
            var (kallsyms, vmlinux) = PerfKernelSymbols.Open(this, Kallsyms, Vmlinux);
            using var file = PerfDataFile.Open(path, fileCancel.Token);
            var decoder = new PerfDataDecoder(file, kallsyms, SymbolPath?.Select(GetUnresolvedProviderPathFromPSPath).ToArray(), vmlinux);
            // The decoder runs on its own thread, a round ahead of the pipeline: decoding and the pipeline's
            // per-object cost overlap instead of adding up.
            using var pump = _pump = new PipelinePump<PerfSample[]>(4);
            if (_stopping) pump.Cancel();
            var producer = pump.RunProducer(p =>
            {
                foreach (var batch in decoder.SampleBatches(p.Token))
                    if (!p.Post(batch)) return;
            });
            var progress = new CmdletProgress(this, $"Reading {path}");
            try
            {
                foreach (var batch in pump.Drain())
                {
                    WriteObject(batch, enumerateCollection: true);
                    PerfDataProgress.Report(progress, file, decoder);
                }
            }
            finally
            {
                progress.Complete();
                // The file stays mapped until the decoder has stopped reading it.
                pump.Cancel();
                fileCancel.Cancel();
                producer.Wait();
            }
            foreach (var w in decoder.Warnings) WriteWarning(w);
            if (decoder.Lost > 0) WriteWarning($"{path}: the kernel lost {decoder.Lost} samples (the ring buffers overflowed).");
        }
        catch (OperationCanceledException) { }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, path); }
        finally { _pump = null; }
    }

    protected override void StopProcessing()
    {
        _stopping = true;
        _cancel.Cancel();
        _pump?.Cancel();
    }
}
