using KernelDebug.Native;
using System.Management.Automation;
using KernelDebug.Commands.Ftrace;
using KernelDebug.Ftrace;
using KernelDebug.Launch;
using KernelDebug.Probes;
using KernelDebug.Syscall.LibraryCalls;

namespace KernelDebug.Commands;

/// <summary>
/// Targeting and the run shared by Get-LibraryCallTrace and Measure-LibraryCall: uprobes on the library's functions,
/// a private instance filtered to the target's threads (set_event_pid, event-fork), entries and returns paired per thread.
/// </summary>
public abstract class LibraryCallCommandBase : PSCmdlet, ILaunchParameters, IDisposable
{
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

    [Parameter(Mandatory = true, ParameterSetName = "ProcessId", ValueFromPipelineByPropertyName = true)]
    [Alias("Id", "Pid")]
    [ValidateRange(1, int.MaxValue)]
    [ArgumentCompleter(typeof(ProcessIdCompleter))]
    public int[] ProcessId { get; set; } = Array.Empty<int>();

    /// <summary>libc (default), another library name mapped by the target, or a path.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Library { get; set; } = "libc";

    [Parameter(Mandatory = true)]
    [ArgumentCompleter(typeof(LibraryFunctionCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Function { get; set; } = Array.Empty<string>();

    [Parameter]
    public TimeSpan? Duration { get; set; }

    [Parameter]
    [ValidateRange(64, 1 << 22)]
    public int BufferSizeKb { get; set; } = 8192;

    private readonly List<int> _pids = new();
    private readonly List<(int Tid, int Tgid)> _threads = new();
    private TraceRecordStream? _stream;
    private PrivateInstance? _private;
    private LibraryCallSession? _session;
    private LaunchedProcess? _child;
    private ProgramLaunch? _launch;

    protected override void ProcessRecord()
    {
        if (ParameterSetName == "ProcessId") _pids.AddRange(ProcessId);
    }

    /// <summary>False for timing only: the probes then fetch no arguments.</summary>
    protected virtual bool WantsArguments => true;

    /// <summary>The probes exist; <paramref name="threads"/> are the threads known up front with their process.</summary>
    protected abstract void OnStart(LibraryCallSession session, IReadOnlyList<(int Tid, int Tgid)> threads);

    protected abstract void OnRecord(TraceRecord record);

    protected abstract void OnFinished();

    private volatile bool _stopping;

    protected override void EndProcessing()
    {
        this.SweepOrphans();
        // A process that is gone is an error of its own; the others are traced (the error rule of about_KernelDebug).
        var live = new List<int>();
        foreach (var pid in _pids.Distinct())
        {
            try { _threads.AddRange(KernelDebug.Perf.PerfStat.Threads(pid).Select(tid => (tid, pid))); live.Add(pid); }
            catch (KernelDebugException e) { this.WriteKernelError(e, pid); }
        }
        if (ParameterSetName == "ProcessId" && live.Count == 0) return;
        try
        {
            int? target = live.Count > 0 ? live[0] : null;
            var path = LibraryResolver.Resolve(Library, target);
            var elf = KernelDebug.Symbols.ElfFile.Open(path);
            var functions = IfuncTargets.Resolve(elf, LibraryResolver.MatchFunctions(elf, Function), WriteWarning);
            var points = EntryProbePlacement.Choose(elf, functions, System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture);
            WriteVerbose($"Tracing {functions.Count} function(s) of {path}.");
            for (int i = 0; i < functions.Count; i++) WriteVerbose($"{functions[i].Name}: probes at {points[i]}.");

            _private = new PrivateInstance();
            var instance = _private.Instance;
            instance.SetTracingOn(false);
            instance.SetClock("mono");
            instance.SetBufferSizeKb(BufferSizeKb);
            instance.SetOption("event-fork", true);
            if (ParameterSetName == "Command")
            {
                _launch = ProgramLaunch.For(this, this);
                _child = ChildLauncher.StartStopped(_launch.Target);
                instance.AddEventPids(new[] { _child.ProcessId });
            }
            else
            {
                // set_event_pid matches threads: every thread of each process.
                instance.AddEventPids(_threads.Select(t => t.Tid).ToList());
            }
            _session = new LibraryCallSession(path, functions, points, WantsArguments);
            _session.Enable(instance);

            _stream = new TraceRecordStream(instance);
            var done = false;
            // The binary reader is read right here, between records: no thread hop per record. It wakes when a CPU's
            // buffer is buffer_percent full (whole pages, not per event), at the latest after the poll timeout.
            if (_stream.Reader is null) _stream.Start(new TraceReadOptions { PollMilliseconds = 100 }, () => Volatile.Read(ref done));
            instance.SetTracingOn(true);
            var deadline = Duration is { } d ? DateTime.UtcNow + d : (DateTime?)null;

            if (_child is not null)
            {
                var child = _child;
                child.Resume();
                int execErrno = child.WaitForExec();
                if (execErrno != 0) LaunchedProcess.ThrowIfExecFailed(execErrno, child.Path);
                var killer = new CancellationTokenSource();
                if (Duration is { } limit)
                    _ = Task.Delay(limit, killer.Token).ContinueWith(t => { if (!t.IsCanceled) child.Kill(); }, TaskScheduler.Default);
                _ = Task.Run(() =>
                {
                    try { child.WaitForExit(); }
                    catch (KernelDebugException) { }
                    finally { instance.SetTracingOn(false); Volatile.Write(ref done, true); killer.Cancel(); }
                });
            }
            else
            {
                _ = Task.Run(() =>
                {
                    while (!Volatile.Read(ref done) && (deadline is null || DateTime.UtcNow < deadline) && live.Any(p => Directory.Exists($"/proc/{p}")))
                        Thread.Sleep(100);
                    try { instance.SetTracingOn(false); } catch (KernelDebugException) { }
                    Volatile.Write(ref done, true);
                });
            }

            var known = _child is not null ? new List<(int, int)> { (_child.ProcessId, _child.ProcessId) } : _threads;
            OnStart(_session, known);
            if (_stream.Reader is { } reader)
            {
                // The program's output is written between polls (at least every 100 ms).
                if (!_stopping)
                    reader.RunUntil(r => { OnRecord(r); return !_stopping; }, () => Volatile.Read(ref done), 100, () => { _launch?.Flush(); return !_stopping; });
            }
            else
            {
                var stream = _stream;
                _launch?.OnOutput(stream.Wake);
                foreach (var r in stream.Drain(() => _launch?.Flush())) OnRecord(r);
            }
            _launch?.Finish();
            if (_stream.LostEventsWarning() is { } warning) WriteWarning(warning);
            if (!_stopping) OnFinished();
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e) && e is not PipelineStoppedException) { this.ThrowKernelError(e); }
        finally
        {
            Cleanup();
        }
    }

    protected override void StopProcessing()
    {
        _stopping = true;
        try { _child?.Kill(); } catch (Exception) { /* already gone */ }
        _stream?.Cancel();
    }

    private void Cleanup()
    {
        _stream?.Dispose();
        _stream = null;
        _child?.Dispose();
        _child = null;
        _launch?.Dispose();
        _launch = null;
        // Disable (instance removal) before the probes go: the kernel refuses to delete an enabled probe.
        _private?.Dispose();
        _private = null;
        _session?.Dispose();
        _session = null;
    }

    public void Dispose() => Cleanup();
}

