using System.Management.Automation;
using KernelDebug.Launch;
using KernelDebug.Perf;

namespace KernelDebug.Commands;

/// <summary>perf stat: counts events over a command, a script block, processes or the whole system.</summary>
[Cmdlet(VerbsDiagnostic.Measure, "PerfCounter", DefaultParameterSetName = CommandSet)]
[OutputType(typeof(PerfCounterResult))]
public sealed class MeasurePerfCounterCommand : PSCmdlet, ILaunchParameters
{
    private const string CommandSet = "Command", ScriptSet = "ScriptBlock", ProcessSet = "ProcessId", SystemSet = "SystemWide";

    /// <summary>perf stat's default events.</summary>
    internal static readonly string[] DefaultEvents =
        { "task-clock", "context-switches", "cpu-migrations", "page-faults", "cycles", "instructions", "branches", "branch-misses" };

    // Not positional with -Command: the words after the command are its arguments, as for every -Command cmdlet.
    [Parameter(ParameterSetName = CommandSet)]
    [Parameter(Position = 1, ParameterSetName = ScriptSet)]
    [Parameter(Position = 1, ParameterSetName = ProcessSet)]
    [Parameter(Position = 1, ParameterSetName = SystemSet)]
    [ArgumentCompleter(typeof(PerfEventNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Event { get; set; } = DefaultEvents;

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Command")]
    [ValidateNotNullOrEmpty]
    public string Command { get; set; } = string.Empty;

    [Parameter(Position = 1, ValueFromRemainingArguments = true, ParameterSetName = "Command")]
    [AllowEmptyCollection]
    public string[] ArgumentList { get; set; } = Array.Empty<string>();

    [Parameter(ParameterSetName = "Command")]
    [Alias("RSI")]
    [ValidateNotNullOrEmpty]
    public string? RedirectStandardInput { get; set; }

    [Parameter(ParameterSetName = "Command")]
    [Alias("RSO")]
    [ValidateNotNullOrEmpty]
    public string? RedirectStandardOutput { get; set; }

    [Parameter(ParameterSetName = "Command")]
    [Alias("RSE")]
    [ValidateNotNullOrEmpty]
    public string? RedirectStandardError { get; set; }

    [Parameter(ParameterSetName = "Command")]
    public SwitchParameter DiscardOutput { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = ScriptSet)]
    public ScriptBlock? ScriptBlock { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = ProcessSet, ValueFromPipelineByPropertyName = true)]
    [Alias("Id", "Pid")]
    [ValidateRange(1, int.MaxValue)]
    [ArgumentCompleter(typeof(ProcessIdCompleter))]
    public int[] ProcessId { get; set; } = Array.Empty<int>();

    [Parameter(Mandatory = true, ParameterSetName = SystemSet)]
    public SwitchParameter SystemWide { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = ProcessSet)]
    [Parameter(Mandatory = true, ParameterSetName = SystemSet)]
    public TimeSpan Duration { get; set; }

    [Parameter(ParameterSetName = SystemSet)]
    public SwitchParameter PerCpu { get; set; }

    [Parameter]
    public TimeSpan? Interval { get; set; }

    [Parameter(ParameterSetName = CommandSet)]
    [Parameter(ParameterSetName = ScriptSet)]
    [ValidateRange(1, 10000)]
    public int Repeat { get; set; } = 1;

    private readonly CancellationTokenSource _cancel = new();
    private readonly List<int> _pids = new();
    private List<PerfEventSpec>? _events;

    protected override void BeginProcessing()
    {
        if (Interval is { } i && i < TimeSpan.FromMilliseconds(10))
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-Interval must be at least 10 ms (perf stat -I has the same floor)."), "IntervalTooShort", ErrorCategory.InvalidArgument, Interval));
        if (Interval is not null && Repeat > 1)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-Interval and -Repeat cannot be combined."), "IntervalWithRepeat", ErrorCategory.InvalidArgument, Repeat));
        _events = new List<PerfEventSpec>();
        foreach (var e in Event)
        {
            try { _events.Add(PerfEventCatalog.Parse(e)); }
            catch (Exception ex) when (CmdletErrors.IsExpected(ex)) { this.ThrowKernelError(ex, e); }
        }
        this.ReportMounts(); // a tracepoint event may have mounted tracefs
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == ProcessSet) _pids.AddRange(ProcessId);
    }

    protected override void EndProcessing()
    {
        var events = _events!;
        try
        {
            switch (ParameterSetName)
            {
                case CommandSet: RunRepeated(RunCommandOnce); break;
                case ScriptSet: RunRepeated(() => Interval is null ? PerfStatRunner.RunHere(events, () => ScriptBlock!.Invoke()) : throw new ArgumentException("-Interval is not available with -ScriptBlock, which runs on this thread.")); break;
                case ProcessSet:
                {
                    var targets = new List<(int, int)>();
                    foreach (var pid in _pids.Distinct())
                    {
                        try { targets.AddRange(PerfStat.Threads(pid).Select(t => (t, -1))); }
                        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, pid); }
                    }
                    if (targets.Count == 0) return;
                    var single = _pids.Distinct().Count() == 1 ? _pids[0] : (int?)null;
                    foreach (var row in PerfStatRunner.RunFor(events, targets, false, single, Duration, Interval, _cancel.Token)) WriteObject(row);
                    break;
                }
                default:
                {
                    var targets = PerfStat.OnlineCpus().Select(c => (-1, c)).ToList();
                    foreach (var row in PerfStatRunner.RunFor(events, targets, PerCpu, null, Duration, Interval, _cancel.Token)) WriteObject(row);
                    break;
                }
            }
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e); }
    }

    private void RunRepeated(Func<IEnumerable<PerfCounterResult>> run)
    {
        if (Repeat == 1)
        {
            foreach (var row in run()) WriteObject(row);
            return;
        }
        var runs = new List<List<PerfCounterResult>>();
        for (int i = 0; i < Repeat && !_cancel.IsCancellationRequested; i++)
        {
            WriteProgress(new ProgressRecord(1, "Measure-PerfCounter", $"Run {i + 1} of {Repeat}") { PercentComplete = 100 * i / Repeat });
            runs.Add(run().ToList());
        }
        WriteProgress(new ProgressRecord(1, "Measure-PerfCounter", "Done") { RecordType = ProgressRecordType.Completed });
        foreach (var row in PerfStat.Mean(runs)) WriteObject(row);
    }

    /// <summary>One run of the command; its captured output is written while the counters wait for it.</summary>
    private IEnumerable<PerfCounterResult> RunCommandOnce()
    {
        using var launch = ProgramLaunch.For(this, this);
        foreach (var row in PerfStatRunner.RunCommand(_events!, launch.Target, Interval, _cancel.Token, WriteVerbose, launch.Flush))
        {
            launch.Flush();
            yield return row;
        }
        launch.Finish();
    }

    protected override void StopProcessing() => _cancel.Cancel();
}
