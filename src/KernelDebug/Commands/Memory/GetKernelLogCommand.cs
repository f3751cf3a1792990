using System.Management.Automation;
using KernelDebug.Common;
using KernelDebug.Memory;

namespace KernelDebug.Commands;

/// <summary>The kernel log as objects: /dev/kmsg with the semantics of dmesg --json, or a saved dmesg file.</summary>
[Cmdlet(VerbsCommon.Get, "KernelLog", DefaultParameterSetName = LiveSet)]
[OutputType(typeof(KernelLogEntry))]
public sealed class GetKernelLogCommand : PSCmdlet
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

    private PipelinePump<object>? _pump;

    protected override void ProcessRecord()
    {
        if (ParameterSetName != PathSet) return;
        foreach (var p in Path)
        {
            string resolved;
            try { resolved = SessionState.Path.GetUnresolvedProviderPathFromPSPath(p); }
            catch (Exception e) when (e is ArgumentException or ItemNotFoundException or ProviderNotFoundException) { this.WriteKernelError(e, p); continue; }
            if (!File.Exists(resolved))
            {
                WriteError(new ErrorRecord(new FileNotFoundException($"Cannot find the log file '{resolved}'.", resolved), "LogFileNotFound", ErrorCategory.ObjectNotFound, p));
                continue;
            }
            DateTime? boot = MyInvocation.BoundParameters.ContainsKey(nameof(BootTime)) ? BootTime.ToUniversalTime() : null;
            try
            {
                foreach (var e in DmesgTextParser.ParseFile(resolved, boot))
                    if (Matches(e)) WriteObject(e);
            }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, p); }
        }
    }

    protected override void EndProcessing()
    {
        if (ParameterSetName == PathSet) return;
        KernelLogReader reader;
        try { reader = new KernelLogReader(); }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e, KernelLogReader.DevicePath); return; }
        using (reader)
        {
            if (!Follow)
            {
                try
                {
                    while (reader.ReadNext() is { } entry)
                    {
                        ReportLost(reader);
                        if (Matches(entry)) WriteObject(entry);
                    }
                    ReportLost(reader);
                }
                catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e, KernelLogReader.DevicePath); }
                return;
            }

            using var pump = _pump = new PipelinePump<object>(1024);
            var producer = pump.RunProducer(p =>
            {
                while (!p.IsCancelled)
                {
                    var entry = reader.ReadNext();
                    int lost = reader.TakeLostCount();
                    if (lost > 0 && !p.Post(LostMessage(lost))) return;
                    if (entry is not null) { if (!p.Post(entry)) return; continue; }
                    reader.WaitReadable(200);
                }
            });
            try
            {
                foreach (var item in pump.Drain())
                {
                    if (item is KernelLogEntry entry) { if (Matches(entry)) WriteObject(entry); }
                    else WriteWarning((string)item);
                }
            }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e, KernelLogReader.DevicePath); }
            finally
            {
                pump.Cancel();
                producer.Wait(TimeSpan.FromSeconds(2)); // it polls in 200 ms steps; the reader must outlive it
                _pump = null;
            }
        }
    }

    protected override void StopProcessing() => _pump?.Cancel();

    private void ReportLost(KernelLogReader reader)
    {
        int lost = reader.TakeLostCount();
        if (lost > 0) WriteWarning(LostMessage(lost));
    }

    private static string LostMessage(int n) =>
        $"The kernel log overwrote records before they were read (read() returned EPIPE {n} time(s)); reading continues with the oldest record left.";

    private bool Matches(KernelLogEntry e)
    {
        if (Level is { Length: > 0 } && (e.Level is not { } l || Array.IndexOf(Level, l) < 0)) return false;
        if (Facility is { Length: > 0 } && (e.Facility is not { } f || Array.IndexOf(Facility, f) < 0)) return false;
        if (MyInvocation.BoundParameters.ContainsKey(nameof(Since)) && (e.Timestamp is not { } t || t.ToUniversalTime() < Since.ToUniversalTime())) return false;
        return true;
    }
}
