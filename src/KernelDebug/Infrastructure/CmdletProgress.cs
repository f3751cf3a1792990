using System.Diagnostics;
using System.Management.Automation;

namespace KernelDebug.Commands;

/// <summary>
/// Write-Progress for long work, from the pipeline thread only: the first report goes out at once, later ones at
/// most every <see cref="Interval"/>, and <see cref="Complete"/> ends the bar (call it in a finally: also on errors).
/// With $ProgressPreference SilentlyContinue or Ignore nothing is built or written.
/// </summary>
internal sealed class CmdletProgress
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(250);
    private static readonly long IntervalTicks = (long)(Interval.TotalSeconds * Stopwatch.Frequency);

    private readonly Cmdlet _cmdlet;
    private readonly int _id;
    private readonly string _activity;
    private readonly bool _enabled;
    private long _next;
    private bool _shown;

    public CmdletProgress(PSCmdlet cmdlet, string activity, int id = 1)
    {
        _cmdlet = cmdlet;
        _id = id;
        _activity = activity;
        // -ProgressAction (pwsh 7.4+) is a common parameter the reference assemblies do not know: read it by name.
        var preference = cmdlet.MyInvocation.BoundParameters.TryGetValue("ProgressAction", out var bound) ? bound : cmdlet.GetVariableValue("ProgressPreference");
        _enabled = preference?.ToString() is not ("SilentlyContinue" or "Ignore");
    }

    /// <summary>Whether a report now would be written (so callers skip building the status text).</summary>
    public bool Due => _enabled && Stopwatch.GetTimestamp() >= _next;

    /// <param name="fraction">Done so far, 0..1; null when unknown.</param>
    /// <param name="force">A new phase: written even within the interval (a throttled one would be lost).</param>
    public void Report(Func<string> status, double? fraction = null, TimeSpan? remaining = null, bool force = false)
    {
        if (!_enabled || (!force && !Due)) return;
        _next = Stopwatch.GetTimestamp() + IntervalTicks;
        var record = new ProgressRecord(_id, _activity, status());
        if (fraction is { } f) record.PercentComplete = (int)Math.Clamp(f * 100, 0, 100);
        if (remaining is { } r) record.SecondsRemaining = (int)Math.Max(0, Math.Ceiling(r.TotalSeconds));
        _cmdlet.WriteProgress(record);
        _shown = true;
    }

    /// <summary>Reports progress through a fixed time span (a -Duration).</summary>
    public void ReportTime(TimeSpan elapsed, TimeSpan total, Func<string> status) =>
        Report(status, total > TimeSpan.Zero ? elapsed / total : null, total - elapsed);

    /// <summary>Ends the bar when one was shown. Safe after Ctrl+C (the pipeline then refuses writes).</summary>
    public void Complete()
    {
        if (!_shown) return;
        _shown = false;
        try { _cmdlet.WriteProgress(new ProgressRecord(_id, _activity, "Done") { RecordType = ProgressRecordType.Completed }); }
        catch (PipelineStoppedException) { }
        catch (InvalidOperationException) { } // written from a stopped or finished pipeline
    }
}
