using System.Management.Automation;
using KernelDebug.Perf;

namespace KernelDebug.Commands;

/// <summary>perf diff: the change per DSO and symbol between a baseline recording and another.</summary>
[Cmdlet(VerbsData.Compare, "PerfReport", DefaultParameterSetName = PathSet)]
[OutputType(typeof(PerfDiffEntry))]
public sealed class ComparePerfReportCommand : PSCmdlet
{
    private const string PathSet = "Path", ObjectSet = "Object";

    /// <summary>The baseline recording (perf diff's first file).</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet)]
    [ValidateNotNullOrEmpty]
    public string ReferencePath { get; set; } = string.Empty;

    [Parameter(Mandatory = true, Position = 1, ParameterSetName = PathSet)]
    [ValidateNotNullOrEmpty]
    public string DifferencePath { get; set; } = string.Empty;

    /// <summary>The baseline as Get-PerfReport rows.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ObjectSet)]
    public PerfHotspot[] ReferenceObject { get; set; } = Array.Empty<PerfHotspot>();

    [Parameter(Mandatory = true, ParameterSetName = ObjectSet, ValueFromPipeline = true)]
    public PerfHotspot[] DifferenceObject { get; set; } = Array.Empty<PerfHotspot>();

    /// <summary>perf diff -c: Delta (default), Ratio or WeightedDiff.</summary>
    [Parameter]
    public PerfDiffCompute Compute { get; set; } = PerfDiffCompute.Delta;

    /// <summary>The weights w1,w2 of -Compute WeightedDiff (perf diff -c wdiff:w1,w2).</summary>
    [Parameter]
    [ValidateCount(2, 2)]
    public long[] Weight { get; set; } = { 1, 1 };

    private readonly List<PerfHotspot> _difference = new();
    private readonly CancellationTokenSource _cancel = new();
    private static readonly PerfSortKey[] Keys = { PerfSortKey.Dso, PerfSortKey.Symbol };

    protected override void ProcessRecord()
    {
        if (ParameterSetName == ObjectSet) _difference.AddRange(DifferenceObject);
    }

    protected override void EndProcessing()
    {
        if (Compute == PerfDiffCompute.WeightedDiff && (Weight[0] == 0 || Weight[1] == 0))
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-Weight needs two non-zero weights, as perf diff's wdiff:w1,w2."), "PerfDiffWeight", ErrorCategory.InvalidArgument, Weight));
        }
        if (ParameterSetName == ObjectSet)
        {
            Write(PerfDiff.Compare(ReferenceObject, _difference, Compute, Weight[0], Weight[1]));
            return;
        }
        var baseline = Report(GetUnresolvedProviderPathFromPSPath(ReferencePath));
        if (baseline is null) return;
        var other = Report(GetUnresolvedProviderPathFromPSPath(DifferencePath));
        if (other is null) return;
        Write(PerfDiff.Compare(baseline, other, Compute, Weight[0], Weight[1]));
    }

    private void Write(List<PerfDiffEntry> rows)
    {
        foreach (var r in rows) WriteObject(r);
    }

    private List<PerfHotspot>? Report(string path)
    {
        try
        {
            using var file = PerfDataFile.Open(path, _cancel.Token);
            var decoder = new PerfDataDecoder(file);
            var progress = new CmdletProgress(this, $"Reading {path}");
            List<PerfHotspot> rows;
            try { rows = PerfReportBuilder.Build(PerfDataProgress.Track(decoder.Samples(_cancel.Token), progress, file, decoder), Keys, children: false); }
            finally { progress.Complete(); }
            foreach (var w in decoder.Warnings) WriteWarning(w);
            return rows;
        }
        catch (OperationCanceledException) { return null; }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, path); return null; }
    }

    protected override void StopProcessing() => _cancel.Cancel();
}
