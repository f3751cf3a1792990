using System.Management.Automation;
using KernelDebug.Memory;

namespace KernelDebug.Commands;

/// <summary>The kernel log as objects: /dev/kmsg with the semantics of dmesg --json, or a saved dmesg file.</summary>
[Cmdlet(VerbsCommon.Get, "KernelLog", DefaultParameterSetName = LiveSet)]
[OutputType(typeof(KernelLogEntry))]
public sealed class GetKernelLogCommand : KernelLogCommandBase
{
    private const string LiveSet = "Live";
    private const string PathSet = "Path";

    /// <summary>Only entries logged at or after this time.</summary>
    [Parameter]
    public DateTime Since { get; set; }

    [Parameter]
    [KernelLogLevelTransform]
    public KernelLogLevel[]? Level { get; set; }

    [Parameter]
    public KernelLogFacility[]? Facility { get; set; }

    [Parameter(ParameterSetName = LiveSet)]
    public SwitchParameter Follow { get; set; }

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PSPath")]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>For saved logs: when that machine booted, so Timestamp can be computed from the [seconds] stamps.</summary>
    [Parameter(ParameterSetName = PathSet)]
    public DateTime BootTime { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName != PathSet) return;
        DateTime? boot = MyInvocation.BoundParameters.ContainsKey(nameof(BootTime)) ? BootTime.ToUniversalTime() : null;
        foreach (var (given, resolved) in ResolveLogFiles(Path))
        {
            try
            {
                foreach (var e in DmesgTextParser.ParseFile(resolved, boot))
                    if (Matches(e)) WriteObject(e);
            }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, given); }
        }
    }

    protected override void EndProcessing()
    {
        if (ParameterSetName == PathSet) return;
        ReadLiveLog(Follow, e => { if (Matches(e)) WriteObject(e); });
    }

    private bool Matches(KernelLogEntry e)
    {
        if (Level is { Length: > 0 } && (e.Level is not { } l || Array.IndexOf(Level, l) < 0)) return false;
        if (Facility is { Length: > 0 } && (e.Facility is not { } f || Array.IndexOf(Facility, f) < 0)) return false;
        if (MyInvocation.BoundParameters.ContainsKey(nameof(Since)) && (e.Timestamp is not { } t || t.ToUniversalTime() < Since.ToUniversalTime())) return false;
        return true;
    }
}
