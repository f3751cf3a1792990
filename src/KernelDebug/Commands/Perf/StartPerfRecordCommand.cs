using System.Management.Automation;
using KernelDebug.Launch;
using KernelDebug.Perf;

namespace KernelDebug.Commands;

public enum PerfCallGraph { None, FramePointer }

/// <summary>perf record: samples a command, processes or the whole system into a perf.data file, in the background.</summary>
[Cmdlet(VerbsLifecycle.Start, "PerfRecord", DefaultParameterSetName = CommandSet, SupportsShouldProcess = true)]
[OutputType(typeof(PerfRecording))]
public sealed class StartPerfRecordCommand : PSCmdlet
{
    private const string CommandSet = "Command", ProcessSet = "ProcessId", SystemSet = "SystemWide";

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = CommandSet)]
    [ValidateNotNullOrEmpty]
    public string Command { get; set; } = string.Empty;

    [Parameter(ParameterSetName = CommandSet, ValueFromRemainingArguments = true)]
    public string[] ArgumentList { get; set; } = Array.Empty<string>();

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
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == ProcessSet) _pids.AddRange(ProcessId);
    }

    protected override void EndProcessing()
    {
        var path = GetUnresolvedProviderPathFromPSPath(Path);
        string target = ParameterSetName switch
        {
            CommandSet => $"{Command} {string.Join(' ', ArgumentList)}".Trim(),
            ProcessSet => "process " + string.Join(", ", _pids),
            _ => "all CPUs",
        };
        if (!ShouldProcess($"{target} -> {path}", "Record perf samples")) return;
        PerfRecording recording;
        try
        {
            var events = Event.Select(PerfEventCatalog.Parse).ToList();
            this.ReportMounts(); // a tracepoint event may have mounted tracefs
            var cmdline = new List<string> { "Start-PerfRecord" };
            foreach (var kv in MyInvocation.BoundParameters) cmdline.Add($"-{kv.Key} {FormatValue(kv.Value)}");
            recording = PerfRecorder.Start(new PerfRecordOptions
            {
                Events = events, Path = path, Frequency = Frequency, Period = Period == 0 ? null : Period,
                CallGraph = CallGraph == PerfCallGraph.FramePointer, Duration = Duration,
                Command = ParameterSetName == CommandSet ? Command : null, Arguments = ArgumentList,
                LaunchOptions = new LaunchOptions { WorkingDirectory = SessionState.Path.CurrentFileSystemLocation.ProviderPath },
                ProcessIds = ParameterSetName == ProcessSet ? _pids.Distinct().ToArray() : null,
                SystemWide = ParameterSetName == SystemSet, CommandLine = cmdline,
            });
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e, target); return; }

        if (Wait)
        {
            if (!PerfRecordingWait.Wait(this, recording, null, _cancel.Token)) recording.Recorder!.Stop();
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
