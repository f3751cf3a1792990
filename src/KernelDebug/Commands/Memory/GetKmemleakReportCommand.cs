using System.Management.Automation;
using KernelDebug.Memory;

namespace KernelDebug.Commands;

/// <summary>The objects kmemleak suspects of leaking, from debugfs or a saved report or kernel log.</summary>
[Cmdlet(VerbsCommon.Get, "KmemleakReport", DefaultParameterSetName = LiveSet)]
[OutputType(typeof(KmemleakObject))]
public sealed class GetKmemleakReportCommand : KernelLogCommandBase
{
    private const string LiveSet = "Live";
    private const string PathSet = "Path";

    /// <summary>Saved output of /sys/kernel/debug/kmemleak, a kernel log with kmemleak's verbose copy, or a syzbot report.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PSPath")]
    public string[] Path { get; set; } = Array.Empty<string>();

    protected override void BeginProcessing()
    {
        if (ParameterSetName == PathSet)
            MemoryDetectors.Record(new MemoryDetectorState("Get-KmemleakReport", Array.Empty<Capability>(), requireAll: false, fromSavedLog: true));
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName != PathSet) return;
        foreach (var (given, resolved) in ResolveLogFiles(Path))
        {
            try { WriteObject(KmemleakParser.Parse(DmesgTextParser.ParseFile(resolved)), enumerateCollection: true); }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, given); }
        }
    }

    protected override void EndProcessing()
    {
        if (ParameterSetName == PathSet) return;
        MemoryDetectors.RecordKmemleak("Get-KmemleakReport");
        try { WriteObject(Kmemleak.Read(Kmemleak.ControlFilePath(WriteVerbose)), enumerateCollection: true); }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e); }
    }
}
