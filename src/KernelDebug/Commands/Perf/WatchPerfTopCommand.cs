using System.Diagnostics;
using System.Management.Automation;
using KernelDebug.Perf;

namespace KernelDebug.Commands;

/// <summary>perf top: the hottest symbols of the system (or of processes), refreshed every interval.</summary>
[Cmdlet(VerbsCommon.Watch, "PerfTop")]
[OutputType(typeof(PerfHotspot))]
public sealed class WatchPerfTopCommand : PSCmdlet
{
    [Parameter]
    [ValidateRange(1, 10000)]
    public int Count { get; set; } = 20;

    [Parameter]
    public TimeSpan? Duration { get; set; }

    [Parameter]
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(2);

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Id", "Pid")]
    [ValidateRange(1, int.MaxValue)]
    [ArgumentCompleter(typeof(ProcessIdCompleter))]
    public int[]? ProcessId { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(PerfEventNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string Event { get; set; } = "cpu-clock";

    [Parameter]
    [ValidateRange(1, 1_000_000)]
    public ulong Frequency { get; set; } = 999;

    [Parameter]
    public PerfSortKey[] SortBy { get; set; } = { PerfSortKey.Comm, PerfSortKey.Dso, PerfSortKey.Symbol };

    private readonly List<int> _pids = new();
    private readonly CancellationTokenSource _cancel = new();
    private PerfRecording? _current;

    protected override void ProcessRecord()
    {
        if (ProcessId is not null) _pids.AddRange(ProcessId);
    }

    protected override void EndProcessing()
    {
        if (Interval < TimeSpan.FromMilliseconds(100))
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-Interval must be at least 100 ms."), "IntervalTooShort", ErrorCategory.InvalidArgument, Interval));
        var clock = Stopwatch.StartNew();
        // Each round's perf.data lives in a fresh private directory (mkdtemp: a random name, mode 0700), never at a
        // predictable name in the shared /tmp where another user could plant a symbolic link.
        DirectoryInfo? dir = null;
        string path = string.Empty;
        var progress = new CmdletProgress(this, "Watch-PerfTop");
        int refresh = 0;
        try
        {
            dir = Directory.CreateTempSubdirectory($"{KernelDebug.Host.Naming.Prefix}_top_");
            path = Path.Combine(dir.FullName, "perf.data");
            var events = new[] { PerfEventCatalog.Parse(Event) };
            this.ReportMounts(); // a tracepoint event may have mounted tracefs
            while (!_cancel.IsCancellationRequested)
            {
                var left = Duration is { } d ? d - clock.Elapsed : Interval;
                if (left <= TimeSpan.Zero) break;
                var round = left < Interval ? left : Interval;
                // Each refresh is a short recording of its own: the kernel fills the ring buffers, the file is decoded and ranked.
                _current = PerfRecorder.Start(new PerfRecordOptions
                {
                    Events = events, Path = path, Frequency = Frequency, Duration = round,
                    ProcessIds = _pids.Count > 0 ? _pids.Distinct().ToArray() : null, SystemWide = _pids.Count == 0,
                    CommandLine = new[] { "Watch-PerfTop" }, RingPages = 64,
                });
                refresh++;
                var roundClock = Stopwatch.StartNew();
                while (!_current.Recorder!.Wait(CmdletProgress.Interval, _cancel.Token) && !_cancel.IsCancellationRequested)
                {
                    string status() => $"Refresh {refresh}: sampling, {Math.Max(0, (round - roundClock.Elapsed).TotalSeconds):F0} s to the next table";
                    if (Duration is { } total) progress.ReportTime(clock.Elapsed, total, status);
                    else progress.Report(status, roundClock.Elapsed / round);
                }
                if (_cancel.IsCancellationRequested) break;
                if (_current.State == PerfRecordingState.Failed) throw new InvalidOperationException($"Sampling failed: {_current.Error}");
                using (var file = PerfDataFile.Open(path))
                {
                    var at = clock.Elapsed;
                    foreach (var row in PerfReportBuilder.Build(new PerfDataDecoder(file).Samples(_cancel.Token), SortBy, children: false).Take(Count))
                        WriteObject(new PerfHotspot
                        {
                            Overhead = row.Overhead, Children = row.Children, Samples = row.Samples, Period = row.Period,
                            Event = row.Event, Comm = row.Comm, Dso = row.Dso, Symbol = row.Symbol, Kernel = row.Kernel, Interval = at,
                        });
                }
            }
        }
        catch (OperationCanceledException) { }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e); }
        finally
        {
            progress.Complete();
            _current?.Recorder?.Stop();
            try { dir?.Delete(recursive: true); }
            catch (IOException) { }
        }
    }

    protected override void StopProcessing()
    {
        _cancel.Cancel();
        _current?.Recorder?.Stop(TimeSpan.FromSeconds(5));
    }
}
