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
            var (kallsyms, vmlinux) = PerfKernelSymbols.Open(this, Kallsyms, Vmlinux);
            using var file = PerfDataFile.Open(path, _cancel.Token);
            var decoder = new PerfDataDecoder(file, kallsyms, SymbolPath?.Select(GetUnresolvedProviderPathFromPSPath).ToArray(), vmlinux);
            var progress = new CmdletProgress(this, $"Reading {path}");
            List<PerfHotspot> rows;
            try { rows = PerfReportBuilder.Build(PerfDataProgress.Track(decoder.Samples(_cancel.Token), progress, file, decoder), SortBy, Children); }
            finally { progress.Complete(); }
            foreach (var w in decoder.Warnings) WriteWarning(w);
            WriteRows(rows);
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

/// <summary>Progress through a perf.data file by bytes of its data section.</summary>
internal static class PerfDataProgress
{
    public static void Report(CmdletProgress progress, PerfDataFile file, PerfDataDecoder decoder)
    {
        if (!progress.Due || file.DataSize <= 0) return;
        long read = decoder.BytesRead;
        progress.Report(() => $"{read / 1048576.0:F1} of {file.DataSize / 1048576.0:F1} MiB, {decoder.SampleCount} samples", (double)read / file.DataSize);
    }

    /// <summary>The samples, reporting progress every few thousand on the way (the consumer runs on the pipeline thread).</summary>
    public static IEnumerable<PerfSample> Track(IEnumerable<PerfSample> samples, CmdletProgress progress, PerfDataFile file, PerfDataDecoder decoder)
    {
        int n = 0;
        foreach (var s in samples)
        {
            if ((++n & 0xfff) == 0) Report(progress, file, decoder);
            yield return s;
        }
    }
}
