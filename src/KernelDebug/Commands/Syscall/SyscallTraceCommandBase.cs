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
        SyscallTraceOptions options;
        try { options = MakeOptions(selected, useSeccomp, inject); }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e); throw; }

        var pump = new BatchingPump<SyscallTraceRecord>();
        _pump = pump;
        SyscallTracer tracer;
        try
        {
            tracer = new SyscallTracer(options, r =>
        {
            if (pump.Post(r)) return true;
            _tracer?.RequestStop();
            return false;
        });
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e); throw; }
        _tracer = tracer;
        var target = launch is null ? null
            : launch.Target with { Options = launch.Target.Options with { SeccompFilter = useSeccomp ? SeccompFilter.Build(stopAt!, SyscallTable.Current) : null } };
        launch?.OnOutput(pump.Wake);
        // One process that cannot be attached is an error of its own; the others are traced (the error rule of about_KernelDebug).
        var targetErrors = new System.Collections.Concurrent.ConcurrentQueue<KernelDebugException>();
        void Between()
        {
            launch?.Flush();
            while (targetErrors.TryDequeue(out var e)) this.WriteKernelError(e, e.Target);
        }
        var pids = _pids.Distinct().ToList();
        var thread = new Thread(() =>
        {
            try
            {
                if (target is not null)
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
                pump.Cancel();
                thread.Join(TimeSpan.FromSeconds(15));
            }
        }
        if (ExitCode is { } c) WriteVerbose($"{Command} exited with {c}.");
        OnFinished(tracer);
    }

    /// <summary>The launched command's exit code (128+signal when killed by one).</summary>
    protected int? ExitCode { get; private set; }

    protected override void StopProcessing()
    {
        _tracer?.RequestStop();
        _pump?.Cancel();
    }
}

/// <summary>Completes syscall names of this architecture and strace's classes.</summary>
public sealed class SyscallNameCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(string c, string p, IDictionary b) =>
        SyscallTable.ForArchitecture(SyscallTable.Current).Select(s => s.Name).Concat(SyscallTable.ClassNames.Keys);
}
