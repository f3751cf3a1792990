using System.Management.Automation;
using KernelDebug.Launch;
using KernelDebug.Native;
using KernelDebug.Syscall;
using KernelDebug.Syscall.Bpf;

namespace KernelDebug.Commands;

/// <summary>
/// strace -c as objects: calls, errors and time per syscall of a command, of running processes, of the whole host
/// (-All) or of a cgroup (-CGroup). The Bpf engine sums in the kernel (no stop per call); the Ptrace engine is strace's.
/// </summary>
[Cmdlet(VerbsDiagnostic.Measure, "Syscall", DefaultParameterSetName = "Command")]
[OutputType(typeof(SyscallSummary))]
public sealed class MeasureSyscallCommand : SyscallTraceCommandBase
{
    /// <summary>Every process on the host except this PowerShell (all its threads). Bpf engine only.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "All")]
    public SwitchParameter All { get; set; }

    /// <summary>The processes of a cgroup v2 and of the cgroups below it: a directory on the cgroup2 mount, or a path as /proc/PID/cgroup shows it. Bpf engine only.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "CGroup")]
    [ValidateNotNullOrEmpty]
    public string CGroup { get; set; } = string.Empty;

    private readonly List<int> _bpfPids = new();
    private readonly ManualResetEventSlim _wake = new();
    private volatile bool _stopping;

    protected override SyscallTraceOptions MakeOptions(HashSet<int>? syscalls, bool useSeccomp, IReadOnlyList<InjectionRule> inject) => new()
    {
        Syscalls = syscalls, FollowFork = FollowFork, Decode = false, Duration = Duration, UseSeccomp = useSeccomp, Inject = inject,
    };

    protected override void OnRecord(SyscallTraceRecord record) { }

    protected override void OnFinished(SyscallTracer tracer) =>
        WriteSummary(tracer.Counts.ToDictionary(k => k.Key, k => (k.Value.Calls, k.Value.Errors, System.Diagnostics.Stopwatch.GetElapsedTime(0, k.Value.Ticks))));

    private void WriteSummary(IReadOnlyDictionary<int, (long Calls, long Errors, TimeSpan Time)> counts)
    {
        long total = counts.Values.Sum(c => c.Time.Ticks);
        foreach (var (nr, c) in counts.OrderByDescending(k => k.Value.Time).ThenByDescending(k => k.Value.Calls))
        {
            WriteObject(new SyscallSummary
            {
                Name = SyscallTable.NameOf(nr), Calls = c.Calls, Errors = c.Errors, TotalTime = c.Time,
                AverageTime = c.Calls == 0 ? TimeSpan.Zero : c.Time / c.Calls,
                Percent = total == 0 ? 0 : Math.Round(100.0 * c.Time.Ticks / total, 2),
            });
        }
    }

    protected override void ProcessRecord()
    {
        base.ProcessRecord();
        if (ParameterSetName == "ProcessId") _bpfPids.AddRange(ProcessId);
    }

    protected override void EndProcessing()
    {
        var engine = Engine;
        bool injects = Inject is { Length: > 0 };
        if (engine == SyscallEngine.Auto)
        {
            // -Inject changes calls at the ptrace stop: with it the ptrace engine counts (a command or processes).
            if (injects && ParameterSetName is not ("All" or "CGroup"))
            {
                engine = SyscallEngine.Ptrace;
                WriteVerbose("Engine Ptrace: -Inject needs the ptrace engine.");
            }
            else
            {
                var (chosen, reason, _) = SyscallEngineChoice.ForCounting();
                engine = chosen;
                WriteVerbose($"Engine {chosen}: {reason}.");
            }
        }
        if (engine == SyscallEngine.Bpf && injects)
            this.ThrowKernelError(new KernelDebugException("-Inject needs the ptrace engine: the BPF engine sums calls in the kernel and cannot change them.",
                "SyscallEngineUnavailable", ErrorCategory.InvalidArgument) { Remedy = ParameterSetName is "All" or "CGroup" ? "Inject into a -Command or -ProcessId run." : "Use -Engine Ptrace, or leave -Engine out." }, "Inject");
        if (engine == SyscallEngine.Ptrace)
        {
            if (ParameterSetName is "All" or "CGroup")
            {
                var (_, reason, remedy) = SyscallEngineChoice.ForCounting();
                bool forced = Engine == SyscallEngine.Ptrace;
                this.ThrowKernelError(new KernelDebugException(
                    forced ? $"-{ParameterSetName} needs the Bpf engine: ptrace can only follow processes it attaches to or starts, not a whole host or a cgroup."
                           : $"-{ParameterSetName} needs the Bpf engine, which is not available here: {reason}.",
                    "BpfEngineRequired", forced ? ErrorCategory.InvalidArgument : ErrorCategory.NotImplemented)
                { Remedy = forced ? "Leave out -Engine Ptrace." : remedy }, ParameterSetName);
            }
            base.EndProcessing();
            return;
        }
        RunBpf();
    }

    protected override void StopProcessing()
    {
        _stopping = true;
        _wake.Set();
        base.StopProcessing();
    }

    private void RunBpf()
    {
        HashSet<int>? selected = null;
        ProgramLaunch? launch = null;
        LaunchedProcess? child = null;
        BpfSyscallCounter? counter = null;
        Task? exited = null;
        bool finished = false;
        string target = ParameterSetName switch { "Command" => Command, "All" => "all", "CGroup" => CGroup, _ => string.Join(",", _bpfPids.Distinct()) };
        IReadOnlyDictionary<int, (long Calls, long Errors, TimeSpan Time)> counts;
        (long Calls, long Processes, long SkippedRuns) lost;
        try
        {
            try
            {
                if (Syscall is not null) selected = SyscallTable.Resolve(Syscall);
                SyscallTargetFilter filter;
                switch (ParameterSetName)
                {
                    case "All":
                        filter = SyscallTargetFilter.ForAll();
                        break;
                    case "CGroup":
                        filter = SyscallTargetFilter.ForCGroup(CGroup);
                        WriteVerbose($"cgroup {filter.CGroup!.Path}: id {filter.CGroup.Id}, level {filter.CGroup.Level}.");
                        break;
                    case "ProcessId":
                        // A pid that is not there is an error of its own; the others are measured (about_KernelDebug's error rule).
                        var tgids = new List<int>();
                        foreach (var pid in _bpfPids.Distinct())
                        {
                            try { tgids.Add(SyscallTargetFilter.ResolveProcess(pid)); }
                            catch (KernelDebugException e) { this.WriteKernelError(e, e.Target); }
                        }
                        if (tgids.Count == 0) return;
                        filter = SyscallTargetFilter.ForProcesses(tgids, FollowFork);
                        break;
                    default:
                        // Stopped before its execve until the programs are attached: the execve is its first counted call.
                        launch = ProgramLaunch.For(this, this);
                        child = ChildLauncher.StartStopped(launch.Target);
                        filter = SyscallTargetFilter.ForLaunch(child.ProcessId, FollowFork);
                        break;
                }
                counter = new BpfSyscallCounter(filter);
                counter.Start();
                WriteVerbose($"Counting: kd_syscount attached ({filter.Kind}).");
                if (child is not null)
                {
                    launch!.OnOutput(_wake.Set);
                    child.Resume();
                    LaunchedProcess.ThrowIfExecFailed(child.WaitForExec(), child.Path);
                    var c = child;
                    exited = Task.Run(() =>
                    {
                        try { c.WaitForExit(); }
                        catch (KernelDebugException) { }
                        finally { _wake.Set(); }
                    });
                }
            }
            catch (Exception e) when (CmdletErrors.IsExpected(e))
            {
                launch?.Flush();
                this.ThrowKernelError(e, target);
            }
            Wait(counter, launch, exited);
            finished = !_stopping;
        }
        finally
        {
            counter?.Stop();
            if (child is not null)
            {
                // Stopped early (Ctrl+C, -Duration): the command goes, as with the Ptrace engine.
                if (exited is null || !exited.IsCompleted) child.Kill();
                exited?.Wait(TimeSpan.FromSeconds(10));
                launch?.Finish();
                child.Dispose();
            }
            launch?.Dispose();
            if (!finished) counter?.Dispose();
        }
        if (counter is null || !finished) return;
        using (counter)
        {
            counts = counter.ReadCounts();
            lost = counter.Lost();
        }
        if (child?.ExitStatus is { } ws) WriteVerbose($"{Command} exited with {(ws.Exited ? ws.ExitCode : 128 + ws.TermSignal)}.");
        if (lost.Calls > 0) WriteWarning($"{lost.Calls} call(s) were not counted: the per-thread table of calls in progress was full.");
        if (lost.Processes > 0) WriteWarning($"{lost.Processes} forked process(es) were not followed: the pid set was full.");
        if (lost.SkippedRuns > 0) WriteWarning($"{lost.SkippedRuns} syscall entry or exit(s) were not seen: the kernel skipped runs of the program that came in while another run of it was preempted on the same CPU.");
        WriteVerbose($"Lost: {lost.Calls} calls, {lost.Processes} processes, {lost.SkippedRuns} skipped program runs.");
        WriteSummary(selected is null ? counts : counts.Where(k => selected.Contains(k.Key)).ToDictionary(k => k.Key, k => k.Value));
    }

    // Until the command (and with -FollowFork its children) ended, the processes are gone, -Duration is over, or Ctrl+C.
    private void Wait(BpfSyscallCounter counter, ProgramLaunch? launch, Task? exited)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var progress = new CmdletProgress(this, MyInvocation.MyCommand.Name);
        var nextCheck = TimeSpan.Zero;
        try
        {
            while (!_stopping)
            {
                _wake.Wait(TimeSpan.FromMilliseconds(100));
                _wake.Reset();
                launch?.Flush();
                if (_stopping || (Duration is { } d && clock.Elapsed >= d)) break;
                if (exited is not null)
                {
                    if (exited.IsCompleted && (!FollowFork || !counter.AnyTargetAlive())) break;
                }
                else if (ParameterSetName == "ProcessId" && clock.Elapsed >= nextCheck)
                {
                    if (!counter.AnyTargetAlive()) break;
                    nextCheck = clock.Elapsed + TimeSpan.FromMilliseconds(250);
                }
                // As with the Ptrace engine: progress only where the end is known (-Duration).
                if (Duration is { } total && progress.Due)
                {
                    long calls = counter.TotalCalls();
                    progress.ReportTime(clock.Elapsed, total, () => $"{calls} syscalls, {clock.Elapsed.TotalSeconds:F0} of {total.TotalSeconds:F0} s");
                }
            }
        }
        finally { progress.Complete(); }
    }
}
