using System.Diagnostics;
using System.Management.Automation;
using System.Runtime.InteropServices;
using KernelDebug.Launch;
using KernelDebug.Native;

namespace KernelDebug.Syscall;

/// <summary>What Get-SyscallTrace and Measure-Syscall ask of the tracer.</summary>
public sealed record SyscallTraceOptions
{
    /// <summary>Syscall numbers to report; null reports all.</summary>
    public HashSet<int>? Syscalls { get; init; }
    public bool FollowFork { get; init; }
    public bool FailedOnly { get; init; }
    /// <summary>Only calls that succeeded (strace -z).</summary>
    public bool SuccessfulOnly { get; init; }
    /// <summary>Only calls with a path argument matching this (strace -P).</summary>
    public WildcardPattern? Path { get; init; }
    public int MaxStringLength { get; init; } = 32;
    /// <summary>False for Measure-Syscall: no argument decoding, no records, only the counts.</summary>
    public bool Decode { get; init; } = true;
    public TimeSpan? Duration { get; init; }
    /// <summary>For -Command: let a seccomp filter stop the tracee only at the selected syscalls.</summary>
    public bool UseSeccomp { get; init; }
    /// <summary>Pin the tracer thread and a launched tracee to one CPU (a ptrace round trip across vCPUs is much slower).</summary>
    public bool SameCpu { get; init; } = true;
    /// <summary>-Inject: fault, success, signal and delay injection (strace -e inject=).</summary>
    public IReadOnlyList<InjectionRule> Inject { get; init; } = Array.Empty<InjectionRule>();
    /// <summary>-DecodeFd: fd arguments and results with what they refer to (strace -y / -yy).</summary>
    public FdDecoding DecodeFd { get; init; }
    /// <summary>-StackTrace: the user stack of each reported call (strace -k), by frame pointers.</summary>
    public bool StackTrace { get; init; }
    public int StackTraceDepth { get; init; } = 64;

    /// <summary>
    /// The options set here that only the ptrace engine implements, by parameter name (empty when any engine will
    /// do): -Inject changes the call, which needs the tracee stopped; -DecodeFd and -StackTrace read /proc and the
    /// stack at the stop.
    /// </summary>
    public IReadOnlyList<string> RequiresPtrace
    {
        get
        {
            var list = new List<string>();
            if (Inject.Count > 0) list.Add("Inject");
            if (DecodeFd != FdDecoding.None) list.Add("DecodeFd");
            if (StackTrace) list.Add("StackTrace");
            return list;
        }
    }

    /// <summary>The parameters that need the ptrace engine whatever their value (for help and -Engine checks).</summary>
    public static IReadOnlyList<string> PtraceOnlyParameters { get; } = new[] { "Inject", "DecodeFd", "StackTrace" };
    /// <summary>BPF engine: the ring buffer's size in bytes (rounded up to a power of two); null for the default.</summary>
    public long? BufferSize { get; init; }
}

/// <summary>
/// The ptrace engine behind Get-SyscallTrace (strace). Everything runs on the one thread that calls Run: ptrace
/// requests are only accepted from the thread that attached, and wait statuses are collected with waitpid(__WALL).
/// A launched command is killed when tracing stops early; attached processes are detached and keep running.
/// </summary>
public sealed class SyscallTracer
{
    private const int SIGTSTP = 20, SIGTTIN = 21, SIGTTOU = 22;
    private const int EventStop = 128;
    // __WNOTHREAD: only this thread's tracees and children, so pwsh's other children keep their exit statuses.
    private const int WaitFlags = Interop.__WALL | 0x20000000;

    private sealed class Task
    {
        public int Tid, Tgid;
        public string Comm = "";
        public bool InSyscall, Selected, NewChild, SawExec;
        /// <summary>False for children followed only because they inherited the seccomp filter (no -FollowFork).</summary>
        public bool Reported = true;
        public int Nr;
        public ulong[] Args = new ulong[6];
        public SyscallArgument?[]? EntryArgs;
        public long EntryTicks;
        public DateTime EntryTime;
        public bool Suppressed; // the launcher's own syscalls before the command's execve
        /// <summary>-Inject: invocations so far per syscall number (strace counts per syscall and tracee).</summary>
        public Dictionary<int, int>? Invocations;
        public InjectionRule? Injecting;
        public SyscallStackFrame[]? Stack;
    }

    private readonly SyscallTraceOptions _options;
    private readonly Func<SyscallTraceRecord, bool> _post;
    private readonly Dictionary<int, Task> _tasks = new();
    private readonly TraceeMemory _memory = new();
    private readonly SyscallDecoder _decoder;
    private readonly Architecture _arch = RuntimeInformation.ProcessArchitecture;
    private readonly int _execveNumber;
    private readonly HashSet<int> _roots = new();
    private bool _launched;
    private volatile bool _stopRequested;
    private LaunchedProcess? _child;
    private int _stopSignalTarget;

    /// <summary>Per-syscall counts and time for Measure-Syscall (name → calls, errors, ticks).</summary>
    public Dictionary<int, (long Calls, long Errors, long Ticks)> Counts { get; } = new();

    public SyscallTracer(SyscallTraceOptions options, Func<SyscallTraceRecord, bool> post)
    {
        _options = options;
        _post = post;
        _decoder = new SyscallDecoder(_memory, _arch, options.MaxStringLength)
        {
            Fds = options.DecodeFd == FdDecoding.None ? null : new FileDescriptorDecoder(options.DecodeFd),
        };
        _execveNumber = SyscallTable.ByName("execve")!.NumberFor(_arch);
        if ((options.Inject.Count > 0 || options.StackTrace) && _arch != Architecture.X64)
            throw new KernelDebugException(
                $"-{(options.Inject.Count > 0 ? "Inject" : "StackTrace")} is implemented for x86_64 tracees only; this is {_arch}.",
                "PtraceFeatureNotOnArchitecture", ErrorCategory.NotImplemented);
        if (options.StackTrace)
        {
            _stacks = new UserStackWalker(_memory, options.StackTraceDepth);
            foreach (var name in new[] { "mmap", "munmap", "mremap", "mprotect", "execve", "execveat" })
                if (SyscallTable.ByName(name, _arch) is { } sc) _mapChanging.Add(sc.NumberFor(_arch));
        }
        foreach (var name in FdReturning)
            if (SyscallTable.ByName(name, _arch) is { } sc) _fdReturning.Add(sc.NumberFor(_arch));
        _fcntlNumber = SyscallTable.ByName("fcntl", _arch)?.NumberFor(_arch) ?? -1;
        _tgkillNumber = SyscallTable.ByName("tgkill", _arch)!.NumberFor(_arch);
    }

    private readonly int _tgkillNumber;

    private readonly UserStackWalker? _stacks;
    private readonly HashSet<int> _mapChanging = new();
    private readonly HashSet<int> _fdReturning = new();
    private readonly int _fcntlNumber;

    /// <summary>The calls whose result is a new fd, which -DecodeFd shows as strace -y does (3&lt;/etc/passwd&gt;).</summary>
    private static readonly string[] FdReturning =
    {
        "open", "openat", "openat2", "creat", "socket", "accept", "accept4", "dup", "dup2", "dup3", "epoll_create",
        "epoll_create1", "eventfd", "eventfd2", "signalfd", "signalfd4", "timerfd_create", "memfd_create", "inotify_init",
        "inotify_init1", "fanotify_init", "pidfd_open", "pidfd_getfd", "perf_event_open", "open_by_handle_at",
        "userfaultfd", "io_uring_setup", "memfd_secret", "open_tree", "fsopen", "fsmount", "fspick",
    };

    // struct user_regs_struct offsets (x86_64): rax is the return value, orig_rax the syscall number the kernel runs.
    private const int RaxOffset = 10 * 8, OrigRaxOffset = 15 * 8;

    private int BaseOptions => Interop.PTRACE_O_TRACESYSGOOD | Interop.PTRACE_O_TRACEEXEC |
        // Children inherit a seccomp filter; one with no tracer would get ENOSYS for every filtered call, so they are
        // followed (silently without -FollowFork), as strace --seccomp-bpf implies -f.
        (_options.FollowFork || _options.UseSeccomp ? Interop.PTRACE_O_TRACECLONE | Interop.PTRACE_O_TRACEFORK | Interop.PTRACE_O_TRACEVFORK : 0) |
        (_options.UseSeccomp ? Interop.PTRACE_O_TRACESECCOMP : 0);

    /// <summary>Wakes the tracer from waitpid and makes it stop: a launched command is killed, attached ones detached.</summary>
    public void RequestStop()
    {
        _stopRequested = true;
        int target = Volatile.Read(ref _stopSignalTarget);
        // Any signal to a tracee ends the tracer's waitpid; the tracer suppresses it before detaching.
        if (target > 0) Interop.kill(target, _launched ? Interop.SIGKILL : Interop.SIGCONT);
    }

    /// <summary>Starts the command stopped before exec, seizes it, and traces until every tracee has ended.</summary>
    public int RunCommand(LaunchTarget target)
    {
        _launched = true;
        using var quiet = ChildStopNotifications.Suppress();
        using var child = ChildLauncher.StartStopped(target);
        _child = child;
        if (_options.SameCpu)
        {
            // Every syscall is a round trip to the tracer: keep both on one CPU. With a seccomp filter stops are
            // rare, so the command keeps its own CPU placement.
            PinToCurrentCpu(0);
            if (!_options.UseSeccomp) PinToCurrentCpu(child.ProcessId);
        }
        int pid = child.ProcessId;
        if (Interop.TryPtrace(Interop.PTRACE_SEIZE, pid, 0, BaseOptions | Interop.PTRACE_O_EXITKILL) is not 0 and var seizeError)
            throw PtraceError(seizeError, pid);
        var t = AddTask(pid, pid);
        t.Suppressed = true;
        _roots.Add(pid);
        Volatile.Write(ref _stopSignalTarget, pid);
        // The child sits in SIGSTOP group-stop: trap it, then restart it with syscall tracing on; SIGCONT ends the job stop.
        Interop.ptrace(Interop.PTRACE_INTERRUPT, pid, 0, 0);
        Interop.kill(pid, Interop.SIGCONT);
        Loop();
        int exec = child.ExecErrorAfterExit();
        if (exec != 0) LaunchedProcess.ThrowIfExecFailed(exec, child.Path);
        return child.ExitStatus is { } ws ? (ws.Exited ? ws.ExitCode : 128 + ws.TermSignal) : 0;
    }

    /// <summary>
    /// Attaches to every thread of each process (strace -p) and traces until stopped or they end. With
    /// <paramref name="targetFailed"/>, a process that cannot be attached (gone, this process, a child of it, already
    /// traced, refused) is reported there and the others are traced; without it, the first such error ends the run.
    /// </summary>
    public void RunAttach(IReadOnlyList<int> processIds, Action<KernelDebugException>? targetFailed = null)
    {
        using var quiet = ChildStopNotifications.Suppress();
        foreach (var requested in processIds)
        {
            try { Attach(requested); }
            catch (KernelDebugException e) when (targetFailed is not null && e.Data["Seized"] is not true)
            {
                targetFailed(e);
            }
            catch
            {
                DetachAll();
                throw;
            }
        }
        if (_roots.Count == 0) return;
        if (_options.SameCpu) PinToCurrentCpu(0);
        Loop();
    }

    private void Attach(int requested)
    {
        int seized = 0;
        {
            int pid = requested;
            if (pid == Environment.ProcessId)
                throw new KernelDebugException("A process cannot trace itself.", "CannotTraceSelf", ErrorCategory.InvalidArgument) { Target = pid.ToString() };
            if (!Directory.Exists($"/proc/{pid}"))
                throw new KernelDebugException($"There is no process with id {pid}.", "ProcessNotFound", ErrorCategory.ObjectNotFound) { Target = pid.ToString() };
            pid = ReadTgid(pid) ?? pid;
            if (ReadParent(pid) == Environment.ProcessId)
                throw new KernelDebugException(
                    $"Process {pid} is a child of this PowerShell process (Start-Process, a background job or a native command). .NET waits for its own children on SIGCHLD and would take the ptrace stops meant for the tracer, leaving the process stopped.",
                    "TraceeIsChildOfThisProcess", ErrorCategory.InvalidOperation)
                { Target = pid.ToString(), Remedy = "Trace the command from its start with -Command, or attach from another pwsh session." };
            try
            {
                // Threads may come and go while we attach; rescan until the set is stable.
                for (int round = 0; round < 3; round++)
                {
                    bool added = false;
                    foreach (var dir in Directory.EnumerateDirectories($"/proc/{pid}/task"))
                    {
                        if (!int.TryParse(System.IO.Path.GetFileName(dir), out int tid) || _tasks.ContainsKey(tid)) continue;
                        if (Interop.TryPtrace(Interop.PTRACE_SEIZE, tid, 0, BaseOptions) is not 0 and var e)
                        {
                            if (e == Errno.ESRCH && tid != pid) continue; // a thread that just ended
                            throw PtraceError(e, tid);
                        }
                        AddTask(tid, pid);
                        Interop.ptrace(Interop.PTRACE_INTERRUPT, tid, 0, 0);
                        seized++;
                        added = true;
                    }
                    if (!added) break;
                }
            }
            catch (DirectoryNotFoundException)
            {
                throw new KernelDebugException($"There is no process with id {pid}.", "ProcessNotFound", ErrorCategory.ObjectNotFound) { Target = pid.ToString() };
            }
            catch (Exception e) when (seized > 0)
            {
                // Some threads of this process are seized: the run cannot go on without it (with nothing seized the others can).
                e.Data["Seized"] = true;
                throw;
            }
            _roots.Add(pid);
            Volatile.Write(ref _stopSignalTarget, pid);
        }
    }

    private static KernelDebugException PtraceError(int errno, int pid)
    {
        string status = "";
        try { status = File.ReadAllText($"/proc/{pid}/status"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        var tracer = System.Text.RegularExpressions.Regex.Match(status, @"TracerPid:\s*(\d+)");
        string? yama = null;
        try { yama = File.ReadAllText("/proc/sys/kernel/yama/ptrace_scope").Trim(); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        // TracerPid is the tracing thread's id: name the process it belongs to (its Tgid) and that process's command.
        int tracerThread = tracer.Success && int.TryParse(tracer.Groups[1].Value, out var t) ? t : 0;
        int tracerProcess = tracerThread;
        string? tracerName = null;
        if (tracerThread != 0)
        {
            try
            {
                var tracerStatus = File.ReadAllText($"/proc/{tracerThread}/status");
                var tgid = System.Text.RegularExpressions.Regex.Match(tracerStatus, @"Tgid:\s*(\d+)");
                if (tgid.Success && int.TryParse(tgid.Groups[1].Value, out var g)) tracerProcess = g;
                tracerName = File.ReadAllText($"/proc/{tracerProcess}/comm").TrimEnd('\n');
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return AttachError(errno, pid, tracerProcess, yama, tracerName, tracerThread);
    }

    /// <summary>Why an attach failed, in strace's words: no such process, already traced, or refused (with the Yama scope explained).</summary>
    internal static KernelDebugException AttachError(int errno, int pid, int tracerPid, string? yamaScope, string? tracerName = null, int tracerThread = 0)
    {
        if (errno == Errno.ESRCH)
            return new KernelDebugException($"There is no process with id {pid}.", "ProcessNotFound", ErrorCategory.ObjectNotFound) { Target = pid.ToString() };
        if (errno != Errno.EPERM)
            return new KernelDebugException(errno, "ptrace attach", pid.ToString());
        if (tracerPid != 0)
            return new KernelDebugException($"Process {pid} is already traced by process {tracerPid}{(tracerName is null ? "" : $" ({tracerName})")}{(tracerThread != 0 && tracerThread != tracerPid ? $", from its thread {tracerThread}" : "")}; a process has one tracer at a time.",
                "ProcessAlreadyTraced", ErrorCategory.ResourceBusy) { Target = pid.ToString() };
        var why = yamaScope switch
        {
            "1" => $"Could not attach to process {pid}: Operation not permitted. /proc/sys/kernel/yama/ptrace_scope is 1 (restricted ptrace): a process may trace only its descendants, unless it has CAP_SYS_PTRACE or the target allowed it with prctl(PR_SET_PTRACER).",
            "2" => $"Could not attach to process {pid}: Operation not permitted. /proc/sys/kernel/yama/ptrace_scope is 2 (admin-only attach): only a process with CAP_SYS_PTRACE may attach.",
            "3" => $"Could not attach to process {pid}: Operation not permitted. /proc/sys/kernel/yama/ptrace_scope is 3 (no attach): ptrace attach is disabled until reboot.",
            _ => $"Could not attach to process {pid}: Operation not permitted (a process of another user, a setuid or non-dumpable program, or an LSM refusal).",
        };
        return new KernelDebugException(why, "PtraceNotPermitted", ErrorCategory.PermissionDenied)
        {
            Target = pid.ToString(),
            Remedy = yamaScope switch
            {
                "1" => "Run pwsh as root or with CAP_SYS_PTRACE, start the program with Get-SyscallTrace -Command, or set /proc/sys/kernel/yama/ptrace_scope to 0 (see Documentation/admin-guide/LSM/Yama.rst).",
                "2" => "Run pwsh as root or with CAP_SYS_PTRACE.",
                "3" => "Reboot; scope 3 cannot be lowered at run time. Get-SyscallTrace -Command still works for programs it starts.",
                _ => "Run pwsh as root (sudo pwsh) or with CAP_SYS_PTRACE.",
            },
        };
    }

    private Task AddTask(int tid, int tgid)
    {
        var t = new Task { Tid = tid, Tgid = tgid, Comm = ReadComm(tid) };
        _tasks[tid] = t;
        return t;
    }

    private static string ReadComm(int tid)
    {
        try { return File.ReadAllText($"/proc/{tid}/comm").TrimEnd('\n'); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return ""; }
    }

    private static int? ReadTgid(int tid) => ReadStatusField(tid, "Tgid:");

    private static int? ReadParent(int tid) => ReadStatusField(tid, "PPid:");

    private static int? ReadStatusField(int tid, string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{tid}/status"))
                if (line.StartsWith(field, StringComparison.Ordinal)) return int.Parse(line[field.Length..].Trim());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return null;
    }

    private static unsafe void PinToCurrentCpu(int pid)
    {
        int cpu = Interop.sched_getcpu();
        if (cpu < 0 || cpu >= 64) return;
        ulong mask = 1UL << cpu;
        Interop.sched_setaffinity(pid, 8, &mask);
    }

    private void Resume(Task t, int signal = 0)
    {
        // With a seccomp filter the tracee runs freely (PTRACE_CONT) until a filtered call; else every syscall stops it.
        int request = _options.UseSeccomp && !t.InSyscall && !t.Suppressed ? Interop.PTRACE_CONT : Interop.PTRACE_SYSCALL;
        if (Interop.TryPtrace(request, t.Tid, 0, signal) is not (0 or Errno.ESRCH) and var error)
            throw new KernelDebugException(error, "ptrace restart", t.Tid.ToString());
    }

    private DateTime? _deadline;

    private void Loop()
    {
        if (_options.Duration is { } d)
        {
            _deadline = DateTime.UtcNow + d;
            var timer = new Timer(_ => RequestStop(), null, d, Timeout.InfiniteTimeSpan);
            try { LoopCore(); } finally { timer.Dispose(); }
        }
        else LoopCore();
    }

    private void LoopCore()
    {
        try
        {
            while (_tasks.Count > 0)
            {
                if (_stopRequested) { StopTracing(); return; }
                int waitError = Interop.TryWaitPid(-1, out var ws, WaitFlags, out int tid);
                if (waitError != 0)
                {
                    if (waitError == Errno.ECHILD) return;
                    throw new KernelDebugException(waitError, "waitpid");
                }
                if (!_tasks.TryGetValue(tid, out var t))
                {
                    // A new child can report before its parent's fork event.
                    if (!ws.Stopped) continue;
                    t = AddTask(tid, ReadTgid(tid) ?? tid);
                    t.NewChild = true;
                }
                Handle(t, ws);
            }
        }
        catch
        {
            StopTracing();
            throw;
        }
    }

    private void Handle(Task t, WaitStatus ws)
    {
        if (!ws.Stopped)
        {
            _tasks.Remove(t.Tid);
            if (t.Tid == _child?.ProcessId) _child.MarkReaped(ws);
            if (t.InSyscall && t.Selected) EmitUnfinished(t);
            if (_options.Decode && !t.Suppressed && t.Reported)
                _post(new SyscallProcessExit
                {
                    Timestamp = DateTime.UtcNow, ProcessId = t.Tgid, ThreadId = t.Tid, Comm = t.Comm,
                    ExitCode = ws.Exited ? ws.ExitCode : null,
                    Signal = ws.Exited ? null : SyscallConstants.SignalName(ws.TermSignal), CoreDumped = !ws.Exited && ws.CoreDumped,
                });
            return;
        }
        int sig = ws.StopSignal;
        int ev = ws.PtraceEvent;
        if (sig == (Interop.SIGTRAP | 0x80)) { SyscallStop(t); return; }
        if (ev == Interop.PTRACE_EVENT_SECCOMP) { SeccompStop(t); return; }
        switch (ev)
        {
            case 0:
                // Signal-delivery-stop: report it and pass the signal on.
                if (_stopRequested && sig == Interop.SIGCONT) { Resume(t); return; }
                ReportSignal(t, sig);
                Resume(t, sig);
                return;
            case EventStop:
                if (!t.NewChild && sig is Interop.SIGSTOP or SIGTSTP or SIGTTIN or SIGTTOU && !t.Suppressed)
                {
                    // Group-stop: keep it stopped but keep receiving events (PTRACE_LISTEN), as strace does.
                    if (_options.Decode) ReportSignal(t, sig);
                    Interop.ptrace(Interop.PTRACE_LISTEN, t.Tid, 0, 0);
                    return;
                }
                t.NewChild = false;
                Resume(t);
                return;
            case Interop.PTRACE_EVENT_FORK or Interop.PTRACE_EVENT_VFORK or Interop.PTRACE_EVENT_CLONE:
            {
                ulong msg;
                unsafe { Interop.ptrace(Interop.PTRACE_GETEVENTMSG, t.Tid, 0, (nint)(&msg)); }
                int child = (int)msg;
                if (!_tasks.TryGetValue(child, out var known))
                {
                    var c = AddTask(child, ev == Interop.PTRACE_EVENT_CLONE && (t.Args[0] & 0x10000) != 0 ? t.Tgid : child);
                    c.NewChild = true;
                    c.Reported = _options.FollowFork;
                    c.Comm = t.Comm;
                }
                else if (ev == Interop.PTRACE_EVENT_CLONE && (t.Args[0] & 0x10000) != 0) known.Tgid = t.Tgid;
                Resume(t);
                return;
            }
            case Interop.PTRACE_EVENT_EXEC:
            {
                // The exec'ing thread takes the leader's pid; the old tid (msg) is gone.
                ulong msg;
                unsafe { Interop.ptrace(Interop.PTRACE_GETEVENTMSG, t.Tid, 0, (nint)(&msg)); }
                if ((int)msg != t.Tid && _tasks.Remove((int)msg, out var old))
                {
                    t.InSyscall = old.InSyscall; t.Nr = old.Nr; t.Args = old.Args; t.EntryArgs = old.EntryArgs;
                    t.EntryTicks = old.EntryTicks; t.EntryTime = old.EntryTime; t.Selected = old.Selected; t.Suppressed = old.Suppressed;
                    t.Injecting = old.Injecting; t.Invocations = old.Invocations; t.Stack = old.Stack;
                }
                t.Comm = ReadComm(t.Tid);
                t.Suppressed = false;
                t.SawExec = true;
                _stacks?.Invalidate(t.Tgid);
                Resume(t);
                return;
            }
            default:
                Resume(t);
                return;
        }
    }

    private static unsafe bool GetInfo(Task t, out Interop.PtraceSyscallInfo info)
    {
        Interop.PtraceSyscallInfo i;
        int error = Interop.TryPtrace(Interop.PTRACE_GET_SYSCALL_INFO, t.Tid, sizeof(Interop.PtraceSyscallInfo), (nint)(&i), out _);
        info = i;
        if (error != 0)
        {
            if (error is Errno.EIO or Errno.EINVAL)
                throw new KernelDebugException("This kernel lacks PTRACE_GET_SYSCALL_INFO (Linux 5.3 or later is needed).", "KernelTooOld", ErrorCategory.NotImplemented);
            return false;
        }
        return true;
    }

    private void SyscallStop(Task t)
    {
        if (!GetInfo(t, out var info)) { Resume(t); return; }
        int signal = 0;
        if (info.Op == Interop.PTRACE_SYSCALL_INFO_ENTRY) signal = Enter(t, info);
        else if (info.Op == Interop.PTRACE_SYSCALL_INFO_EXIT) Exit(t, info);
        else t.InSyscall = !t.InSyscall;
        Resume(t, signal);
    }

    private void SeccompStop(Task t)
    {
        int signal = 0;
        if (GetInfo(t, out var info) && info.Op == Interop.PTRACE_SYSCALL_INFO_SECCOMP) signal = Enter(t, info);
        // PTRACE_SYSCALL from here brings the exit stop of this call.
        if (Interop.TryPtrace(Interop.PTRACE_SYSCALL, t.Tid, 0, signal) is not (0 or Errno.ESRCH) and var error)
            throw new KernelDebugException(error, "ptrace restart", t.Tid.ToString());
    }

    /// <summary>The syscall-entry stop; returns the signal to deliver on resuming (-Inject Signal), else 0.</summary>
    private unsafe int Enter(Task t, Interop.PtraceSyscallInfo info)
    {
        t.InSyscall = true;
        t.Nr = (int)info.Nr;
        for (int i = 0; i < 6; i++) t.Args[i] = info.Args[i];
        if (t.Suppressed && t.Nr == _execveNumber) t.Suppressed = false;
        t.Selected = !t.Suppressed && t.Reported && (_options.Syscalls is null || _options.Syscalls.Contains(t.Nr));
        t.Injecting = _options.Inject.Count > 0 && !t.Suppressed && t.Reported ? NextInjection(t) : null;
        t.EntryTicks = Stopwatch.GetTimestamp();
        // Decode before tampering: the arguments are the program's whatever the kernel is made to run.
        if (t.Selected && _options.Decode)
        {
            t.EntryTime = DateTime.UtcNow;
            t.EntryArgs = _decoder.DecodeEntry(SyscallTable.ByNumber(t.Nr, _arch), t.Tid, t.Args);
            t.Stack = _stacks?.Walk(t.Tid, t.Tgid, info.InstructionPointer, info.StackPointer);
        }
        else { t.EntryArgs = null; t.Stack = null; }
        if (t.Injecting is not { } rule) return 0;
        // As strace: the kernel is made to run syscall -1 (ENOSYS, no side effect); the exit stop sets the result.
        if (rule.Tampers && Interop.TryPtrace(Interop.PTRACE_POKEUSER, t.Tid, OrigRaxOffset, -1) is not (0 or Errno.ESRCH) and var error)
            throw new KernelDebugException(error, "ptrace set syscall number", t.Tid.ToString());
        if (rule.DelayEnter is { } delay) Delay(delay);
        // Queued to the thread now, delivered as the call returns (a signal given to a restart from a seccomp
        // stop would be ignored): the same moment as strace's restart with the signal.
        if (rule.Signal is { } sig && Interop.syscall(_tgkillNumber, t.Tgid, t.Tid, sig, 0, 0, 0) < 0 && Errno.Last is not Errno.ESRCH and var error2)
            throw new KernelDebugException(error2, "tgkill", t.Tid.ToString());
        return 0;
    }

    /// <summary>The -Inject rule for this invocation of the call, counting it (per syscall and thread, as strace).</summary>
    private InjectionRule? NextInjection(Task t)
    {
        InjectionRule? rule = null;
        // A later rule naming the same syscall wins, as a later -e inject= does in strace.
        for (int i = _options.Inject.Count - 1; i >= 0 && rule is null; i--)
            if (_options.Inject[i].Syscalls.Contains(t.Nr)) rule = _options.Inject[i];
        if (rule is null) return null;
        t.Invocations ??= new Dictionary<int, int>();
        t.Invocations.TryGetValue(t.Nr, out int n);
        t.Invocations[t.Nr] = ++n;
        return rule.Matches(n) ? rule : null;
    }

    /// <summary>
    /// strace's delay_enter/delay_exit. The tracer holds the stopped thread by sleeping, so other traced threads wait
    /// for the delay too (strace parks only the one thread on a timer).
    /// </summary>
    private static void Delay(TimeSpan delay) => Thread.Sleep(delay);

    /// <summary>Sets an injected call's result at its exit stop: -errno or the chosen return value.</summary>
    private static long SetInjectedResult(Task t, InjectionRule rule)
    {
        long value = rule.Errno is { } e ? -e : rule.ReturnValue ?? 0;
        if (Interop.TryPtrace(Interop.PTRACE_POKEUSER, t.Tid, RaxOffset, (nint)value) is not (0 or Errno.ESRCH) and var error)
            throw new KernelDebugException(error, "ptrace set return value", t.Tid.ToString());
        return value;
    }

    /// <summary>Whether the call's result is an fd: the fd-making calls, and fcntl's F_DUPFD / F_DUPFD_CLOEXEC.</summary>
    private bool ReturnsFd(int nr, ulong[] args) =>
        _fdReturning.Contains(nr) || (nr == _fcntlNumber && (args[1] & 0xffffffff) is 0 or 1030);

    private void Exit(Task t, Interop.PtraceSyscallInfo info)
    {
        if (!t.InSyscall) return; // an exit without entry (attached mid-call)
        t.InSyscall = false;
        long ret = info.ReturnValue;
        bool failed = info.IsError != 0;
        var injected = t.Injecting;
        t.Injecting = null;
        if (injected is not null)
        {
            if (injected.Tampers)
            {
                ret = SetInjectedResult(t, injected);
                failed = injected.Errno is not null;
            }
            if (injected.DelayExit is { } delay) Delay(delay);
        }
        if (_stacks is not null && _mapChanging.Contains(t.Nr)) _stacks.Invalidate(t.Tgid);
        if (!t.Selected || _stopRequested) return; // after a stop request: the call our wake-up signal interrupted
        long ticks = Stopwatch.GetTimestamp() - t.EntryTicks;
        int errno = failed ? (int)-ret : 0;
        if (!_options.Decode)
        {
            Counts.TryGetValue(t.Nr, out var c);
            Counts[t.Nr] = (c.Calls + 1, c.Errors + (failed ? 1 : 0), c.Ticks + ticks);
            return;
        }
        if (_options.FailedOnly && !failed) return;
        if (_options.SuccessfulOnly && failed) return;
        var fds = _decoder.Fds;
        var e = SyscallEvents.Completed(_decoder, _arch, _options.Path, t.Tgid, t.Tid, t.Comm, t.Nr, t.Args,
            t.EntryArgs ?? Array.Empty<SyscallArgument?>(), ret, failed, t.EntryTime, Stopwatch.GetElapsedTime(0, ticks),
            injected: injected?.Tampers == true,
            describeReturn: fds is not null && ret >= 0 && ret <= int.MaxValue && ReturnsFd(t.Nr, t.Args) ? () => fds.Describe(t.Tid, (int)ret) : null,
            stack: t.Stack is null ? null : (ItemList<SyscallStackFrame>)t.Stack);
        if (e is not null) _post(e);
    }

    private void EmitUnfinished(Task t)
    {
        // strace -c counts only calls that returned (exit_group is not among them).
        if (!_options.Decode || _options.FailedOnly) return;
        var e = SyscallEvents.Unfinished(_arch, _options.Path, t.Tgid, t.Tid, t.Comm, t.Nr, t.EntryArgs, t.EntryTime, Stopwatch.GetElapsedTime(t.EntryTicks),
            t.Stack is null ? null : (ItemList<SyscallStackFrame>)t.Stack);
        if (e is not null) _post(e);
    }

    private unsafe void ReportSignal(Task t, int sig)
    {
        if (!_options.Decode || t.Suppressed || !t.Reported) return;
        Interop.SigInfo si;
        bool have = Interop.ptrace(Interop.PTRACE_GETSIGINFO, t.Tid, 0, (nint)(&si)) >= 0;
        string code = have ? SyscallConstants.SigCode(sig, si.Code) : "";
        string text;
        if (!have) text = "";
        else if (sig == Interop.SIGCHLD)
            text = $"{{si_signo=SIGCHLD, si_code={code}, si_pid={si.Pid}, si_uid={si.Uid}, si_status={(si.Code is 1 ? si.Status.ToString() : SyscallConstants.SignalName(si.Status))}, ...}}";
        else if (si.Code <= 0)
            text = $"{{si_signo={SyscallConstants.SignalName(sig)}, si_code={code}, si_pid={si.Pid}, si_uid={si.Uid}}}";
        else if (sig is 11 or 7 or 4 or 8)
            text = $"{{si_signo={SyscallConstants.SignalName(sig)}, si_code={code}, si_addr=0x{si.Address:x}}}";
        else text = $"{{si_signo={SyscallConstants.SignalName(sig)}, si_code={code}}}";
        _post(new SyscallSignal
        {
            Timestamp = DateTime.UtcNow, ProcessId = t.Tgid, ThreadId = t.Tid, Comm = t.Comm,
            Signal = SyscallConstants.SignalName(sig), SignalNumber = sig, Code = code,
            SenderProcessId = have && (si.Code <= 0 || sig == Interop.SIGCHLD) ? si.Pid : null,
            SenderUserId = have && (si.Code <= 0 || sig == Interop.SIGCHLD) ? si.Uid : null,
            Text = text,
        });
    }

    /// <summary>Ends tracing: launched processes are killed and reaped; attached ones are detached, never left stopped.</summary>
    private void StopTracing()
    {
        if (_tasks.Count == 0) return;
        if (_launched)
        {
            foreach (var tgid in _tasks.Values.Select(t => t.Tgid).Distinct().ToList()) Interop.kill(tgid, Interop.SIGKILL);
            while (_tasks.Count > 0)
            {
                int tid = Interop.WaitPid(-1, out var ws, WaitFlags);
                if (tid < 0) break;
                if (!ws.Stopped)
                {
                    if (tid == _child?.ProcessId) _child.MarkReaped(ws);
                    _tasks.Remove(tid);
                }
                else Interop.ptrace(Interop.PTRACE_CONT, tid, 0, 0);
            }
            return;
        }
        DetachAll();
    }

    private void DetachAll()
    {
        foreach (var t in _tasks.Values) Interop.ptrace(Interop.PTRACE_INTERRUPT, t.Tid, 0, 0);
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (_tasks.Count > 0 && DateTime.UtcNow < deadline)
        {
            int tid = Interop.WaitPid(-1, out var ws, WaitFlags);
            if (tid < 0) break;
            if (!_tasks.TryGetValue(tid, out var t))
            {
                // An unknown auto-attached child: let it go too.
                if (ws.Stopped) Interop.ptrace(Interop.PTRACE_DETACH, tid, 0, 0);
                continue;
            }
            if (!ws.Stopped) { _tasks.Remove(tid); continue; }
            // An injected call caught at its exit stop gets its result before the thread goes (else it would see ENOSYS).
            if (ws.StopSignal == (Interop.SIGTRAP | 0x80) && t.InSyscall && t.Injecting is { Tampers: true } rule
                && GetInfo(t, out var info) && info.Op == Interop.PTRACE_SYSCALL_INFO_EXIT)
                SetInjectedResult(t, rule);
            int pass = 0;
            // A real signal caught in delivery is handed back on detach; our SIGCONT wake-up is dropped.
            if (ws.PtraceEvent == 0 && ws.StopSignal != (Interop.SIGTRAP | 0x80) && !(ws.StopSignal == Interop.SIGCONT && _stopRequested))
                pass = ws.StopSignal;
            if (ws.PtraceEvent == EventStop && ws.StopSignal is Interop.SIGSTOP or SIGTSTP or SIGTTIN or SIGTTOU)
                pass = 0; // group-stop: the process stays stopped as the job control asked, detach keeps that state
            Interop.ptrace(Interop.PTRACE_DETACH, tid, 0, pass);
            _tasks.Remove(tid);
        }
    }
}
