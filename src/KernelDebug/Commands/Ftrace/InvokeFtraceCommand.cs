using System.Globalization;
using System.Management.Automation;
using KernelDebug.Ftrace;
using KernelDebug.Launch;
using KernelDebug.Native;

namespace KernelDebug.Commands.Ftrace;

/// <summary>
/// Traces one script block or command in a private instance: the events are filtered to its process tree
/// (set_event_pid with event-fork), the records are returned, and everything made for the call is removed.
/// With -Instance it records in that instance instead (e.g. "/" where a tracer exists only at the top level) and
/// puts back every setting it changed.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "Ftrace", DefaultParameterSetName = "ScriptBlock")]
[OutputType(typeof(TraceRecord), typeof(FunctionCall), typeof(FunctionGraphCall))]
public sealed class InvokeFtraceCommand : FtraceCmdlet, IDisposable, ILaunchParameters
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "ScriptBlock")]
    public ScriptBlock ScriptBlock { get; set; } = null!;

    /// <summary>A program (path or name on PATH), started without a shell.</summary>
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

    [Parameter]
    [ArgumentCompleter(typeof(TraceEventNameCompleter))]
    [SupportsWildcards]
    public string[]? Event { get; set; }

    [Parameter]
    public string? Filter { get; set; }

    /// <summary>Function globs for the function tracer (set_ftrace_filter); implies -Tracer function.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(FunctionNameCompleter))]
    public string[]? Function { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(TracerNameCompleter))]
    public string? Tracer { get; set; }

    [Parameter]
    [ValidateRange(64, 1 << 22)]
    public int BufferSizeKb { get; set; } = 8192;

    /// <summary>Record in this instance ("/" for the top level) instead of a private one; its settings are restored after.</summary>
    [Parameter]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance? Instance { get; set; }

    private TraceRecordStream? _stream;
    private PrivateInstance? _private;
    private LaunchedProcess? _child;
    private ProgramLaunch? _launch;
    private volatile bool _stopping;

    protected override void BeginProcessing()
    {
        TraceRecordTypeData.Ensure(this);
        this.SweepOrphans();
    }

    protected override void ProcessRecord()
    {
        if ((Event is null || Event.Length == 0) && Tracer is null && Function is null)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("Name what to record: -Event, -Tracer or -Function."), "NothingToTrace", ErrorCategory.InvalidArgument, null));
        try
        {
            var events = Event is null ? new List<(string, string)>() : MatchEvents(Event);
            if (Event is not null && events.Count == 0) return;
            var tracer = Tracer ?? (Function is not null ? "function" : null);
            var instance = Instance ?? OpenPrivateInstance();
            if (Instance is not null)
            {
                // One session at a time in a shared instance; a dead holder's changes are put back here first.
                _lock = Try(() => InstanceLock.Acquire(instance, WriteVerbose), instance.Name);
                SaveSettings(instance, tracer);
            }
            Try(() =>
            {
                instance.SetTracingOn(false);
                instance.SetClock("mono");
                if (_private is not null || MyInvocation.BoundParameters.ContainsKey(nameof(BufferSizeKb))) instance.SetBufferSizeKb(BufferSizeKb);
                instance.SetOption("event-fork", true);
                // Records already in a shared buffer are not of this call (trace-cmd record resets it too).
                if (_private is null) instance.ClearBuffer();
            });
            if (tracer is "function" or "function_graph") _symbols = KernelDebug.Symbols.Kallsyms.Current is { Count: > 0 } k ? k : null;
            if (Function is not null) Try(() => FunctionFilter.Write(instance, FtraceFilterKind.Filter, Function, null, append: false));

            if (ParameterSetName == "Command")
            {
                _launch = Try(() => ProgramLaunch.For(this, this), Command);
                _child = Try(() => ChildLauncher.StartStopped(_launch.Target), Command);
                TraceProcess(instance, _child.ProcessId, tracer);
            }
            else
            {
                // The pipeline thread runs the script block; processes it starts fork from it (event-fork follows them).
                TraceProcess(instance, CurrentThreadId(), tracer);
            }
            if (events.Count > 0)
            {
                if (_settings is not null) Try(() => _settings.EnableEvents(events, Filter), Filter);
                else Try(() => instance.EnableEvents(events, Filter), Filter);
            }

            _stream = Try(() => new TraceRecordStream(instance));
            var done = false;
            _stream.Start(new TraceReadOptions { PollMilliseconds = 100 }, () => Volatile.Read(ref done));
            Try(() => instance.SetTracingOn(true));

            if (_child is not null)
            {
                var child = _child;
                _launch!.OnOutput(_stream.Wake); // before the program runs: its first line must wake the drain
                child.Resume();
                int execErrno = child.WaitForExec();
                if (execErrno != 0) Try(() => LaunchedProcess.ThrowIfExecFailed(execErrno, child.Path), Command);
                // saved_cmdlines may still name an earlier owner of the pid when the command's records are decoded.
                _stream.Reader?.Decoder.Comms.Pin(child.ProcessId, CommCache.CommOfExecutable(child.Path));
                _ = Task.Run(() =>
                {
                    try { child.WaitForExit(); }
                    catch (KernelDebugException) { }
                    finally { instance.SetTracingOn(false); Volatile.Write(ref done, true); }
                });
                var stream = _stream;
                var launch = _launch!;
                Emit(stream.Drain(launch.Flush));
                launch.Finish();
                var status = child.ExitStatus;
                if (status is { } s) WriteVerbose($"{Command} ended: {s}.");
            }
            else
            {
                try { ScriptBlock.Invoke(); }
                finally
                {
                    instance.SetTracingOn(false);
                    Volatile.Write(ref done, true);
                }
                Emit(_stream.Drain());
            }
            if (!_stopping && _stream.LostEventsWarning() is { } warning) WriteWarning(warning);
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e) && e is not PipelineStoppedException) { this.ThrowKernelError(e); }
        finally
        {
            Cleanup();
        }
    }

    /// <summary>Records as they come; function tracer hits as FunctionCall, function_graph records as finished call trees.</summary>
    private void Emit(IEnumerable<TraceRecord> records)
    {
        var graph = _symbols is null ? null : new FunctionGraphAssembler(_symbols);
        foreach (var r in records)
        {
            if (_symbols is not null && FunctionTrace.FromRecord(r, _symbols) is { } call) WriteObject(call);
            else if (graph is not null && FunctionGraphAssembler.IsGraphRecord(r)) { if (graph.Add(r) is { } tree) WriteObject(tree); }
            else WriteObject(r);
        }
        if (graph is not null) WriteObject(graph.Flush(), true);
    }

    private KernelDebug.Symbols.Kallsyms? _symbols;
    private InstanceSettings? _settings;
    private InstanceLock? _lock;

    private FtraceInstance OpenPrivateInstance()
    {
        _private = Try(() => new PrivateInstance());
        WriteVerbose($"Private instance {_private.Instance.Name}.");
        return _private.Instance;
    }

    /// <summary>Saves what this call changes in an instance it does not own, before changing it.</summary>
    private void SaveSettings(FtraceInstance instance, string? tracer)
    {
        WriteVerbose($"Recording in {instance.Name}; its settings are put back afterwards.");
        var settings = new InstanceSettings(instance);
        _settings = settings; // Cleanup puts back (and removes the state file of) what was saved, also when saving fails midway
        Try(() =>
        {
            if (settings.PersistTo(_lock!.StatePath) is { } why)
                WriteWarning($"{why} Should this session be killed, the settings of {instance.Name} it changed stay changed.");
            settings.SaveValue("tracing_on");
            settings.SaveValue("trace_clock");
            settings.SaveValue("options/event-fork");
            if (MyInvocation.BoundParameters.ContainsKey(nameof(BufferSizeKb))) settings.SaveValue("buffer_size_kb");
            settings.SaveList("set_event_pid");
            if (tracer is not null)
            {
                settings.SaveValue("current_tracer");
                settings.SaveValue("options/function-fork");
                settings.SaveList("set_ftrace_pid");
            }
            if (Function is not null) settings.SaveList("set_ftrace_filter");
        }, instance.Name);
    }

    private void TraceProcess(FtraceInstance instance, int pid, string? tracer)
    {
        Try(() => instance.AddEventPids(new[] { pid }));
        if (tracer is null) return;
        Try(() =>
        {
            FunctionFilter.WritePids(instance, new[] { pid }, append: false);
            instance.SetOption("function-fork", true);
            instance.SetTracer(tracer);
        }, tracer);
    }

    private static int CurrentThreadId() => (int)Interop.syscall(SyscallNumbers.Gettid, 0, 0, 0, 0, 0, 0);

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
        var settings = _settings;
        _settings = null;
        try { settings?.Dispose(); }
        catch (KernelDebugException e) when (!_stopping) { WriteWarning(e.Message); }
        catch (KernelDebugException) { /* Dispose on a stopped pipeline cannot write; the next Get-FtraceInstance shows the state */ }
        _lock?.Dispose();
        _lock = null;
        _child?.Dispose();
        _child = null;
        _launch?.Dispose();
        _launch = null;
        _private?.Dispose();
        _private = null;
    }

    public void Dispose() => Cleanup();
}
