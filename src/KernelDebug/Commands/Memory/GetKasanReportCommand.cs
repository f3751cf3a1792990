using System.Management.Automation;
using KernelDebug.Memory;

namespace KernelDebug.Commands;

/// <summary>KASAN, KFENCE and UBSAN reports from the kernel log (or a saved log) as objects.</summary>
[Cmdlet(VerbsCommon.Get, "KasanReport", DefaultParameterSetName = LiveSet)]
[OutputType(typeof(MemoryErrorReport))]
public sealed class GetKasanReportCommand : KernelLogCommandBase
{
    private const string LiveSet = "Live";
    private const string PathSet = "Path";

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PSPath")]
    public string[] Path { get; set; } = Array.Empty<string>();

    [Parameter(ParameterSetName = LiveSet)]
    public SwitchParameter Follow { get; set; }

    [Parameter]
    public MemoryErrorDetector[]? Detector { get; set; }

    /// <summary>
    /// End with an error, not a warning, when the kernel lacks the detectors asked for (any of -Detector's, or all three
    /// without it): an empty result then proves nothing.
    /// </summary>
    [Parameter(ParameterSetName = LiveSet)]
    public SwitchParameter RequireDetector { get; set; }

    protected override void BeginProcessing()
    {
        if (ParameterSetName == PathSet)
        {
            MemoryDetectors.Record(new MemoryDetectorState("Get-KasanReport", Array.Empty<Capability>(), requireAll: false, fromSavedLog: true));
            return;
        }
        var wanted = Detector is { Length: > 0 } ? Detector.Distinct() : Enum.GetValues<MemoryErrorDetector>();
        var state = new MemoryDetectorState("Get-KasanReport",
            MemoryDetectors.Probe(wanted.Select(MemoryDetectors.CapabilityName)), requireAll: Detector is { Length: > 0 });
        MemoryDetectors.Record(state);
        if (state.Satisfied) return;
        if (RequireDetector) this.ThrowKernelError(MemoryDetectors.MissingError(state));
        WriteWarning($"{state.Reason}. An empty result does not mean healthy. {state.Remedy}");
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName != PathSet) return;
        foreach (var (given, resolved) in ResolveLogFiles(Path))
        {
            try
            {
                foreach (var r in MemoryReportParser.Parse(DmesgTextParser.ParseFile(resolved))) Emit(r);
            }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, given); }
        }
    }

    protected override void EndProcessing()
    {
        if (ParameterSetName == PathSet) return;
        var parser = new MemoryReportParser();
        ReadLiveLog(Follow, e => { foreach (var r in parser.Feed(e)) Emit(r); });
        if (parser.Flush() is { } last) Emit(last);
    }

    private void Emit(MemoryErrorReport r)
    {
        if (Detector is { Length: > 0 } && Array.IndexOf(Detector, r.Detector) < 0) return;
        WriteObject(r);
    }
}
