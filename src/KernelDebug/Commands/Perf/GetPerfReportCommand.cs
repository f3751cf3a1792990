using System.Management.Automation;
using KernelDebug.Perf;

namespace KernelDebug.Commands;

/// <summary>perf report: where the samples are, by command, DSO and symbol.</summary>
[Cmdlet(VerbsCommon.Get, "PerfReport", DefaultParameterSetName = PathSet)]
[OutputType(typeof(PerfHotspot))]
public sealed class GetPerfReportCommand : PSCmdlet
{
    private const string PathSet = "Path", RecordingSet = "Recording", InputSet = "InputObject";

    [Parameter(Position = 0, ParameterSetName = PathSet)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "perf.data";

    [Parameter(Mandatory = true, ParameterSetName = RecordingSet, ValueFromPipeline = true)]
    public PerfRecording? Recording { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = InputSet, ValueFromPipeline = true)]
    public PerfSample[] InputObject { get; set; } = Array.Empty<PerfSample>();

    [Parameter]
    public PerfSortKey[] SortBy { get; set; } = { PerfSortKey.Comm, PerfSortKey.Dso, PerfSortKey.Symbol };

    [Parameter]
    public SwitchParameter Children { get; set; }

    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int Top { get; set; } = int.MaxValue;

    private readonly List<PerfSample> _input = new();
    private readonly CancellationTokenSource _cancel = new();

    protected override void ProcessRecord()
    {
        switch (ParameterSetName)
        {
            case InputSet: _input.AddRange(InputObject); return;
            case RecordingSet:
                if (Recording!.State == PerfRecordingState.Running)
                {
                    WriteError(new ErrorRecord(new InvalidOperationException($"Recording {Recording.Id} is still running; stop it with Stop-PerfRecord first."), "PerfRecordingRunning", ErrorCategory.ResourceBusy, Recording));
                    return;
                }
                Emit(Recording.Path);
                return;
            default: Emit(GetUnresolvedProviderPathFromPSPath(Path)); return;
        }
    }

    protected override void EndProcessing()
    {
        if (ParameterSetName == InputSet) WriteRows(PerfReportBuilder.Build(_input, SortBy, Children));
    }

    private void Emit(string path)
    {
        try
        {
            using var file = PerfDataFile.Open(path);
            var decoder = new PerfDataDecoder(file);
            WriteRows(PerfReportBuilder.Build(decoder.Samples(_cancel.Token), SortBy, Children));
        }
        catch (OperationCanceledException) { }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, path); }
    }

    private void WriteRows(List<PerfHotspot> rows)
    {
        foreach (var r in rows.Take(Top)) WriteObject(r);
    }

    protected override void StopProcessing() => _cancel.Cancel();
}
