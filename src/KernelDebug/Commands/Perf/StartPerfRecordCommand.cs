using System.Management.Automation;
using KernelDebug.Launch;
using KernelDebug.Perf;
using KernelDebug.Native;

namespace KernelDebug.Commands;

public enum PerfCallGraph { None, FramePointer, Dwarf }

/// <summary>perf record: samples a command, processes or the whole system into a perf.data file, in the background.</summary>
[Cmdlet(VerbsLifecycle.Start, "PerfRecord", DefaultParameterSetName = CommandSet, SupportsShouldProcess = true)]
[OutputType(typeof(PerfRecording))]
public sealed class StartPerfRecordCommand : PSCmdlet, ILaunchParameters
{
    private const string CommandSet = "Command", ProcessSet = "ProcessId", SystemSet = "SystemWide";

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

    [Parameter(Mandatory = true, ParameterSetName = ProcessSet, ValueFromPipelineByPropertyName = true)]
    [Alias("Id", "Pid")]
    [ValidateRange(1, int.MaxValue)]
    [ArgumentCompleter(typeof(ProcessIdCompleter))]
    public int[] ProcessId { get; set; } = Array.Empty<int>();

    [Parameter(Mandatory = true, ParameterSetName = SystemSet)]
    public SwitchParameter SystemWide { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(PerfEventNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Event { get; set; } = { "cpu-clock" };

    [Parameter]
    [ValidateRange(1, 1_000_000)]
    public ulong Frequency { get; set; } = 999;

    [Parameter]
    [ValidateRange(1, ulong.MaxValue)]
    public ulong Period { get; set; }

    [Parameter]
    public PerfCallGraph CallGraph { get; set; } = PerfCallGraph.None;

    /// <summary>With -CallGraph Dwarf: the bytes of user stack copied with each sample (perf's --call-graph dwarf,SIZE; default 8192).</summary>
    [Parameter]
    [ValidateRange(8, 65528)]
    public uint StackSize { get; set; } = 8192;

    [Parameter]
    public TimeSpan? Duration { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "perf.data";

    [Parameter]
    public SwitchParameter Wait { get; set; }

    private readonly List<int> _pids = new();
    private readonly CancellationTokenSource _cancel = new();

    protected override void BeginProcessing()
    {
        if (MyInvocation.BoundParameters.ContainsKey(nameof(Frequency)) && MyInvocation.BoundParameters.ContainsKey(nameof(Period)))
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("Give -Frequency or -Period, not both."), "FrequencyAndPeriod", ErrorCategory.InvalidArgument, Period));
        if (MyInvocation.BoundParameters.ContainsKey(nameof(StackSize)) && CallGraph != PerfCallGraph.Dwarf)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-StackSize is the stack copied for DWARF call graphs: give it with -CallGraph Dwarf."), "StackSizeWithoutDwarf", ErrorCategory.InvalidArgument, StackSize));
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == ProcessSet) _pids.AddRange(ProcessId);
    }

    protected override void EndProcessing()
    {
        if (ParameterSetName == ProcessSet)
        {
            // A process that is gone is an error of its own; the others are recorded (the error rule of about_KernelDebug).
            var live = new List<int>();
            foreach (var pid in _pids.Distinct())
            {
                try { _ = PerfStat.Threads(pid); live.Add(pid); }
                catch (KernelDebugException e) { this.WriteKernelError(e, pid); }
            }
            if (live.Count == 0) return;
            _pids.Clear();
            _pids.AddRange(live);
        }
        var path = GetUnresolvedProviderPathFromPSPath(Path);
        string target = ParameterSetName switch
        {
            CommandSet => $"{Command} {string.Join(' ', ArgumentList)}".Trim(),
            ProcessSet => "process " + string.Join(", ", _pids),
            _ => "all CPUs",
        };
        if (!ShouldProcess($"{target} -> {path}", "Record perf samples")) return;
        PerfRecording recording;
        ProgramLaunch? launch = null;
        try
        {
            // -Wait drains the output as it comes; nobody may read a background recording's for a long time, so a full
            // buffer there drops its oldest lines rather than stall the program.
            if (ParameterSetName == CommandSet) launch = ProgramLaunch.For(this, this, Wait ? CaptureOverflow.Wait : CaptureOverflow.DropOldest);
            var events = Event.Select(PerfEventCatalog.Parse).ToList();
            this.ReportMounts(); // a tracepoint event may have mounted tracefs
            var cmdline = new List<string> { "Start-PerfRecord" };
            foreach (var kv in MyInvocation.BoundParameters) cmdline.Add($"-{kv.Key} {FormatValue(kv.Value)}");
            recording = PerfRecorder.Start(new PerfRecordOptions
            {
                Events = events, Path = path, Frequency = Frequency, Period = Period == 0 ? null : Period,
                CallGraph = CallGraph == PerfCallGraph.FramePointer, Duration = Duration,
                DwarfStackSize = CallGraph == PerfCallGraph.Dwarf ? StackSize : 0,
                Target = launch?.Target,
                ProcessIds = ParameterSetName == ProcessSet ? _pids.Distinct().ToArray() : null,
                SystemWide = ParameterSetName == SystemSet, CommandLine = cmdline,
            });
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e))
        {
            launch?.Dispose();
            this.ThrowKernelError(e, target);
            return;
        }

        if (Wait)
        {
            if (!PerfRecordOutput.Wait(this, recording, null, _cancel.Token)) recording.Recorder!.Stop();
            PerfRecordOutput.Flush(this, recording);
            if (recording.State == PerfRecordingState.Failed)
                WriteError(new ErrorRecord(new InvalidOperationException($"Recording {recording.Id} failed: {recording.Error}"), "PerfRecordFailed", ErrorCategory.InvalidResult, recording));
        }
        WriteObject(recording);
    }

    private static string FormatValue(object? v) => v switch
    {
        null => "",
        string s => s,
        System.Collections.IEnumerable e => string.Join(",", e.Cast<object>()),
        _ => v.ToString() ?? "",
    };

    protected override void StopProcessing() => _cancel.Cancel();
}

/// <summary>A recorded command's captured output, written by the cmdlet that waits for or stops the recording.</summary>
internal static class PerfRecordOutput
{
    /// <summary>
    /// Waits for the recording on the pipeline thread, writing the command's output as it comes, with a progress bar
    /// (samples so far, and how far through its -Duration); false on timeout or cancellation.
    /// </summary>
    public static bool Wait(PSCmdlet cmdlet, PerfRecording recording, TimeSpan? timeout, CancellationToken cancel)
    {
        if (recording.Recorder is not { } recorder) return true;
        var progress = new CmdletProgress(cmdlet, $"Recording {recording.Id} -> {recording.Path}");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            while (true)
            {
                var slice = CmdletProgress.Interval;
                if (timeout is { } t)
                {
                    var left = t - clock.Elapsed;
                    if (left <= TimeSpan.Zero) return recorder.Wait(TimeSpan.Zero, cancel, () => Flush(cmdlet, recording));
                    if (left < slice) slice = left;
                }
                if (recorder.Wait(slice, cancel, () => Flush(cmdlet, recording))) return true;
                if (cancel.IsCancellationRequested) return false;
                var elapsed = DateTime.Now - recording.StartTime;
                string status() => $"{recording.Samples} samples, {elapsed.TotalSeconds:F0} s" + (recorder.Duration is { } d ? $" of {d.TotalSeconds:F0} s" : "");
                if (recorder.Duration is { } total) progress.ReportTime(elapsed, total, status);
                else progress.Report(status);
            }
        }
        finally { progress.Complete(); }
    }

    public static void Flush(Cmdlet cmdlet, PerfRecording recording)
    {
        if (recording.Recorder is { } rec) ProgramLaunch.Flush(cmdlet, rec.Output, ref rec.OutputDroppedReported);
    }
}
