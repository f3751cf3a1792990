using System.Management.Automation;
using KernelDebug.Perf;

namespace KernelDebug.Commands;

/// <summary>Writes an interactive SVG flame graph, or the folded stacks FlameGraph tools read; from two recordings, a differential one.</summary>
[Cmdlet(VerbsData.Export, "FlameGraph", DefaultParameterSetName = PathSet)]
[OutputType(typeof(FileInfo))]
public sealed class ExportFlameGraphCommand : PSCmdlet
{
    private const string PathSet = "Path", InputSet = "InputObject", DiffSet = "Differential";

    [Parameter(Position = 0, ParameterSetName = PathSet)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "perf.data";

    [Parameter(Mandatory = true, ParameterSetName = InputSet, ValueFromPipeline = true)]
    public PerfSample[] InputObject { get; set; } = Array.Empty<PerfSample>();

    /// <summary>The recording before the change (difffolded.pl's first file): a differential flame graph against -DifferencePath.</summary>
    [Parameter(Mandatory = true, ParameterSetName = DiffSet)]
    [ValidateNotNullOrEmpty]
    public string ReferencePath { get; set; } = string.Empty;

    /// <summary>The recording after the change: frames are as wide as its samples, red where they grew, blue where they shrank.</summary>
    [Parameter(Mandatory = true, ParameterSetName = DiffSet)]
    [ValidateNotNullOrEmpty]
    public string DifferencePath { get; set; } = string.Empty;

    /// <summary>Scale the reference's counts to the other recording's total first (difffolded.pl -n).</summary>
    [Parameter(ParameterSetName = DiffSet)]
    public SwitchParameter Normalize { get; set; }

    /// <summary>Swap the hues (flamegraph.pl --negate).</summary>
    [Parameter(ParameterSetName = DiffSet)]
    public SwitchParameter Negate { get; set; }

    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string OutFile { get; set; } = string.Empty;

    [Parameter]
    public SwitchParameter Folded { get; set; }

    [Parameter]
    public string Title { get; set; } = "Flame Graph";

    private readonly List<PerfSample> _input = new();

    protected override void ProcessRecord()
    {
        if (ParameterSetName == InputSet) _input.AddRange(InputObject);
    }

    protected override void EndProcessing()
    {
        var output = GetUnresolvedProviderPathFromPSPath(OutFile);
        try
        {
            if (ParameterSetName == DiffSet)
            {
                var before = FoldFile(GetUnresolvedProviderPathFromPSPath(ReferencePath));
                var after = FoldFile(GetUnresolvedProviderPathFromPSPath(DifferencePath));
                if (Folded) File.WriteAllLines(output, FlameGraph.DiffFoldedLines(before, after, Normalize));
                else File.WriteAllText(output, FlameGraph.RenderDiffSvg(before, after, Title, Normalize, Negate));
                WriteObject(new FileInfo(output));
                return;
            }
            var folded = ParameterSetName == InputSet ? FlameGraph.Fold(_input) : FoldFile(GetUnresolvedProviderPathFromPSPath(Path));
            if (Folded) File.WriteAllLines(output, FlameGraph.FoldedLines(folded));
            else File.WriteAllText(output, FlameGraph.RenderSvg(folded, Title));
            WriteObject(new FileInfo(output));
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e, output); }
    }

    private SortedDictionary<string, long> FoldFile(string path)
    {
        using var file = PerfDataFile.Open(path);
        var decoder = new PerfDataDecoder(file);
        var folded = FlameGraph.Fold(decoder.Samples());
        foreach (var w in decoder.Warnings) WriteWarning(w);
        return folded;
    }
}
