using System.Management.Automation;
using KernelDebug.Ftrace;

namespace KernelDebug.Commands.Ftrace;

/// <summary>
/// Wakeup latency per task, in log2 buckets of microseconds: the time from sched_waking to the task's sched_switch
/// in, measured in the kernel by hist triggers and a synthetic event (see WakeupLatency) for -Duration, in a private
/// instance (or -Instance). Everything it made is removed afterwards, also on Ctrl+C.
/// </summary>
[Cmdlet(VerbsDiagnostic.Measure, "WakeupLatency", SupportsShouldProcess = true)]
[OutputType(typeof(WakeupLatencyHistogram))]
public sealed class MeasureWakeupLatencyCommand : FtraceCmdlet, IDisposable
{
    [Parameter(Position = 0)]
    [ValidateRange(0.01, 86400.0)]
    public double Duration { get; set; } = 5;

    /// <summary>An instance to use instead of a private one made and removed here.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance? Instance { get; set; }

    /// <summary>A filter on the synthetic event's fields (pid, comm, lat), e.g. 'lat > 100'.</summary>
    [Parameter]
    public string? Filter { get; set; }

    private readonly ManualResetEventSlim _stop = new();

    protected override void ProcessRecord()
    {
        var instance = Instance;
        if (!ShouldProcess(instance?.Name ?? "a private instance", $"Measure wakeup latency for {Duration} s (hist triggers on sched_waking, sched_switch and a synthetic event)")) return;
        // Checked before an instance is made, so a kernel without them leaves nothing behind.
        Try(() => HistTriggers.EnsureAvailable(FtraceInstance.TopLevel, "sched", "sched_waking"), "sched:sched_waking");
        Try(SyntheticEvents.EnsureAvailable);
        bool own = instance is null;
        instance ??= Try(() => FtraceInstance.Create(), "instance");
        var run = new WakeupLatency(instance);
        try
        {
            Try(() => run.Start(string.IsNullOrWhiteSpace(Filter) ? null : Filter), run.SyntheticName);
            _stop.Wait(TimeSpan.FromSeconds(Duration));
            foreach (var h in Try(run.Read, run.SyntheticName)) WriteObject(h);
        }
        finally
        {
            try { run.Stop(); }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, run.SyntheticName); }
            if (own)
            {
                try { instance.Remove(); }
                catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, instance.Name); }
            }
        }
    }

    protected override void StopProcessing() => _stop.Set();

    public void Dispose() => _stop.Dispose();
}
