using System.Management.Automation;
using KernelDebug.Memory;

namespace KernelDebug.Commands;

/// <summary>Triggers a kmemleak scan and returns the suspects it added.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "KmemleakScan", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(KmemleakObject))]
public sealed class InvokeKmemleakScanCommand : PSCmdlet
{
    /// <summary>
    /// Scan a second time after kmemleak's minimum object age: kmemleak reports an object only on the scan after the one
    /// that first found it unreferenced, so leaks made just before the call appear only then.
    /// </summary>
    [Parameter]
    public SwitchParameter Wait { get; set; }

    /// <summary>Seconds between the two scans of -Wait (kmemleak's MSECS_MIN_AGE is 5 s in current kernels).</summary>
    [Parameter]
    [ValidateRange(0, 3600)]
    public int WaitSeconds { get; set; } = 6;

    private readonly CancellationTokenSource _stop = new();

    protected override void EndProcessing()
    {
        try
        {
            MemoryDetectors.RecordKmemleak("Invoke-KmemleakScan");
            var path = Kmemleak.ControlFilePath(WriteVerbose);
            if (!ShouldProcess(path, "scan")) return;
            var before = new HashSet<(ulong, ulong?)>(Kmemleak.Read(path).Select(o => (o.Address, o.Jiffies)));
            Scan(path);
            if (Wait)
            {
                WriteVerbose($"Waiting {WaitSeconds} s for the second scan.");
                var progress = new CmdletProgress(this, "Invoke-KmemleakScan");
                try
                {
                    var total = TimeSpan.FromSeconds(WaitSeconds);
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    while (clock.Elapsed < total)
                    {
                        progress.ReportTime(clock.Elapsed, total, () => $"Waiting {WaitSeconds} s (kmemleak's minimum object age) for the second scan");
                        var slice = total - clock.Elapsed;
                        if (slice > CmdletProgress.Interval) slice = CmdletProgress.Interval;
                        if (slice > TimeSpan.Zero && _stop.Token.WaitHandle.WaitOne(slice)) return;
                    }
                    progress.Report(() => "Second scan", 1.0, force: true);
                    Scan(path);
                }
                finally { progress.Complete(); }
            }
            foreach (var o in Kmemleak.Read(path))
                if (!before.Contains((o.Address, o.Jiffies))) WriteObject(o);
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e); }
    }

    private void Scan(string path)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Kmemleak.Command(path, "scan"); // returns when the scan has finished
        WriteVerbose($"kmemleak scan took {sw.Elapsed.TotalSeconds:F1} s.");
    }

    protected override void StopProcessing() => _stop.Cancel();
}
