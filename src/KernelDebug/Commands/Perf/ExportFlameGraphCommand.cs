using System.Management.Automation;
using KernelDebug.Perf;

namespace KernelDebug.Commands;

/// <summary>Writes an interactive SVG flame graph, or the folded stacks FlameGraph tools read.</summary>
[Cmdlet(VerbsData.Export, "FlameGraph", DefaultParameterSetName = PathSet)]
[OutputType(typeof(FileInfo))]
public sealed class ExportFlameGraphCommand : PSCmdlet
{
    private const string PathSet = "Path", InputSet = "InputObject";

    [Parameter(Position = 0, ParameterSetName = PathSet)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "perf.data";

    [Parameter(Mandatory = true, ParameterSetName = InputSet, ValueFromPipeline = true)]
    public PerfSample[] InputObject { get; set; } = Array.Empty<PerfSample>();

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
            SortedDictionary<string, long> folded;
            if (ParameterSetName == InputSet) folded = FlameGraph.Fold(_input);
            else
            {
                var path = GetUnresolvedProviderPathFromPSPath(Path);
                using var file = PerfDataFile.Open(path);
                var decoder = new PerfDataDecoder(file);
                folded = FlameGraph.Fold(decoder.Samples());
                foreach (var w in decoder.Warnings) WriteWarning(w);
            }
            if (Folded) File.WriteAllLines(output, FlameGraph.FoldedLines(folded));
            else File.WriteAllText(output, FlameGraph.RenderSvg(folded, Title));
            WriteObject(new FileInfo(output));
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e, output); }
    }
}
