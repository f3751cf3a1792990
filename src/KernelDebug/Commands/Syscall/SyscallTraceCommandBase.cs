using System.Collections;
using System.Management.Automation;
using KernelDebug.Common;
using KernelDebug.Launch;
using KernelDebug.Native;
using KernelDebug.Syscall;

namespace KernelDebug.Commands;

/// <summary>Targeting shared by Get-SyscallTrace and Measure-Syscall: a command to start, or processes to attach to.</summary>
public abstract class SyscallTraceCommandBase : PSCmdlet, ILaunchParameters
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

    [Parameter]
    [ArgumentCompleter(typeof(SyscallNameCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Syscall { get; set; }

    [Parameter]
    public SwitchParameter FollowFork { get; set; }

    [Parameter]
    public TimeSpan? Duration { get; set; }

    /// <summary>Fault injection (strace -e inject=): ptrace engine only.</summary>
    [Parameter]
    [SyscallInjectionTransformation]
    [ValidateNotNullOrEmpty]
    public SyscallInjection[]? Inject { get; set; }

    /// <summary>Bpf, Ptrace, or Auto (the default: Bpf where it works and no option needs ptrace).</summary>
    [Parameter]
    public SyscallEngine Engine { get; set; } = SyscallEngine.Auto;

    /// <summary>BPF engine: the ring buffer's size in bytes (rounded up to a power of two).</summary>
    [Parameter]
    [ValidateRange(64L << 10, 1L << 30)]
    public long? BufferSize { get; set; }

    /// <summary>BPF engine: fail the command when more records than this were lost to a full ring buffer.</summary>
    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long? MaxLostEvents { get; set; }

    /// <summary>The options given that only the ptrace engine can do (e.g. "-Inject"); they make Auto pick Ptrace.</summary>
    protected virtual IEnumerable<string> PtraceOnlyOptions() => Array.Empty<string>();

    /// <summary>False where the cmdlet has no BPF side (yet): Auto picks Ptrace, -Engine Bpf is an error.</summary>
    protected virtual bool SupportsBpfEngine => false;

    /// <summary>The engine that ran (or runs).</summary>
    protected SyscallEngine EngineUsed { get; private set; } = SyscallEngine.Ptrace;

    /// <summary>Records the BPF engine lost to a full ring buffer.</summary>
    protected long LostEvents { get; private set; }

    private readonly List<int> _pids = new();

    protected override void ProcessRecord()
    {
        if (ParameterSetName == "ProcessId") _pids.AddRange(ProcessId);
    }

    protected abstract SyscallTraceOptions MakeOptions(HashSet<int>? syscalls, bool useSeccomp, IReadOnlyList<InjectionRule> inject);

    protected abstract void OnRecord(SyscallTraceRecord record);

    protected virtual void OnFinished(SyscallTracer tracer) { }

    private BatchingPump<SyscallTraceRecord>? _pump;
    private SyscallTracer? _tracer;
    private SyscallBpfTracer? _bpfTracer;

    protected override void EndProcessing()
    {
        HashSet<int>? selected = null;
        ProgramLaunch? launch = null;
        var inject = new List<InjectionRule>();
        try
        {
            if (Syscall is not null) selected = SyscallTable.Resolve(Syscall);
            foreach (var i in Inject ?? Array.Empty<SyscallInjection>()) inject.Add(i.Compile(SyscallTable.Current));
            if (ParameterSetName == "Command") launch = ProgramLaunch.For(this, this);
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e); }
        using var _ = launch;
        // The seccomp filter must also stop at the injected calls, traced or not (strace injects into untraced ones too).
        var stopAt = selected is null ? null : new HashSet<int>(selected.Concat(inject.SelectMany(r => r.Syscalls)));
        bool narrow = stopAt is not null && stopAt.Count <= SeccompFilter.MaxSyscalls && stopAt.Count < SyscallTable.ForArchitecture(SyscallTable.Current).Count() / 2;
        bool useSeccomp = launch is not null && narrow;
        SyscallEngine engine;
        SyscallTraceOptions options;
        try
        {
            options = MakeOptions(selected, useSeccomp, inject);
            // -Inject, -DecodeFd and -StackTrace need the tracee stopped: Auto then picks Ptrace, -Engine Bpf is refused.
            var ptraceOnly = PtraceOnlyOptions().Concat(options.RequiresPtrace.Select(p => "-" + p)).ToList();
            var (chosen, reason) = SyscallEngineSelector.Select(Engine, ptraceOnly, SupportsBpfEngine);
            engine = chosen;
            WriteVerbose($"Syscall engine: {chosen} ({reason}).");
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e); return; }
        EngineUsed = engine;
        if (engine == SyscallEngine.Bpf)
        {
            useSeccomp = false;
            options = options with { UseSeccomp = false };
        }

        var pump = new BatchingPump<SyscallTraceRecord>();
        _pump = pump;
        bool Post(SyscallTraceRecord r)
        {
            if (pump.Post(r)) return true;
            _tracer?.RequestStop();
            _bpfTracer?.RequestStop();
            return false;
        }
        var lostReports = new System.Collections.Concurrent.ConcurrentQueue<long>();
        SyscallBpfTracer? bpfTracer = engine == SyscallEngine.Bpf
            ? new SyscallBpfTracer(options with { BufferSize = BufferSize }, Post) { LostChanged = n => { lostReports.Enqueue(n); if (MaxLostEvents is { } max && n > max) _bpfTracer?.RequestStop(); pump.Wake(); } }
            : null;
        _bpfTracer = bpfTracer;
        SyscallTracer tracer;
        try { tracer = new SyscallTracer(options, Post); }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e); throw; }
        _tracer = tracer;
        var target = launch is null ? null
            : launch.Target with { Options = launch.Target.Options with { SeccompFilter = useSeccomp ? SeccompFilter.Build(stopAt!, SyscallTable.Current) : null } };
        launch?.OnOutput(pump.Wake);
        // One process that cannot be attached is an error of its own; the others are traced (the error rule of about_KernelDebug).
        var targetErrors = new System.Collections.Concurrent.ConcurrentQueue<KernelDebugException>();
        long lostWarned = 0;
        void Between()
        {
            launch?.Flush();
            while (targetErrors.TryDequeue(out var e)) this.WriteKernelError(e, e.Target);
            while (lostReports.TryDequeue(out var n))
                if (n > lostWarned)
                {
                    WriteWarning($"{n - lostWarned} syscall record(s) lost to a full BPF ring buffer ({n} so far); a larger -BufferSize or a faster consumer keeps them.");
                    lostWarned = n;
                }
        }
        var pids = _pids.Distinct().ToList();
        var thread = new Thread(() =>
        {
            try
            {
                if (bpfTracer is not null)
                {
                    if (target is not null) ExitCode = bpfTracer.RunCommand(target);
                    else bpfTracer.RunAttach(pids, e => { targetErrors.Enqueue(e); pump.Wake(); });
                }
                else if (target is not null)
                {
                    int code = tracer.RunCommand(target);
                    ExitCode = code;
                }
                else tracer.RunAttach(pids, e => { targetErrors.Enqueue(e); pump.Wake(); });
                pump.Complete();
            }
            catch (Exception e) { pump.Complete(e); }
        })
        { IsBackground = true, Name = "KernelDebug syscall tracer" };
        thread.Start();
        // A -Duration run shows how far through it is (and how many syscalls so far).
        CmdletProgress? progress = Duration is { } total ? new CmdletProgress(this, MyInvocation.MyCommand.Name) : null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long seen = 0;
        Action? tick = progress is null ? null : () =>
            progress.ReportTime(clock.Elapsed, Duration!.Value, () => $"{seen} syscalls, {clock.Elapsed.TotalSeconds:F0} of {Duration!.Value.TotalSeconds:F0} s");
        try
        {
            foreach (var r in pump.Drain(() => { Between(); tick?.Invoke(); })) { seen++; OnRecord(r); }
            Between();
            launch?.Finish();
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e))
        {
            thread.Join();
            Between();
            this.ThrowKernelError(e, launch is not null ? Command : string.Join(",", pids));
        }
        finally
        {
            progress?.Complete();
            // An early stop (Ctrl+C, Select-Object -First): the tracer detaches or kills, then we wait for it.
            if (thread.IsAlive)
            {
                tracer.RequestStop();
                bpfTracer?.RequestStop();
                pump.Cancel();
                thread.Join(TimeSpan.FromSeconds(15));
            }
        }
        if (ExitCode is { } c) WriteVerbose($"{Command} exited with {c}.");
        if (bpfTracer is not null)
        {
            LostEvents = bpfTracer.Lost;
            WriteVerbose($"BPF engine: {bpfTracer.Received} records received, {bpfTracer.Lost} lost.");
            if (bpfTracer.Lost > lostWarned)
                WriteWarning($"{bpfTracer.Lost - lostWarned} syscall record(s) lost to a full BPF ring buffer ({bpfTracer.Lost} in all); a larger -BufferSize or a faster consumer keeps them.");
            if (MaxLostEvents is { } max && bpfTracer.Lost > max)
                this.ThrowKernelError(new KernelDebugException(
                    $"{bpfTracer.Lost} syscall records were lost to a full BPF ring buffer, more than -MaxLostEvents {max}.",
                    "SyscallEventsLost", ErrorCategory.LimitsExceeded)
                { Remedy = "Give a larger -BufferSize, narrow the trace with -Syscall, or use -Engine Ptrace, which loses nothing." });
            return;
        }
        OnFinished(tracer);
    }

    /// <summary>The launched command's exit code (128+signal when killed by one).</summary>
    protected int? ExitCode { get; private set; }

    protected override void StopProcessing()
    {
        _tracer?.RequestStop();
        _bpfTracer?.RequestStop();
        _pump?.Cancel();
    }
}

/// <summary>Completes syscall names of this architecture and strace's classes.</summary>
public sealed class SyscallNameCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(string c, string p, IDictionary b) =>
        SyscallTable.ForArchitecture(SyscallTable.Current).Select(s => s.Name).Concat(SyscallTable.ClassNames.Keys);
}
