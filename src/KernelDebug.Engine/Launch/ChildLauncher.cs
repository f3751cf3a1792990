using System.Collections;
using System.Management.Automation;
using System.Runtime.InteropServices;
using System.Text;
using KernelDebug.Native;

namespace KernelDebug.Launch;

/// <summary>How to start a command.</summary>
public sealed record LaunchOptions
{
    /// <summary>The child's working directory (PowerShell's current location is not the process's); null inherits.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>The child's environment; null passes this process's environment.</summary>
    public IDictionary<string, string>? Environment { get; init; }

    /// <summary>A classic BPF program (struct sock_filter array, 8 bytes per instruction) installed with seccomp before exec.</summary>
    public byte[]? SeccompFilter { get; init; }

    /// <summary>Files for stdin, stdout, stderr; null inherits this process's (or, with <see cref="Capture"/>, a pipe for stdout and stderr).
    /// stdout and stderr naming the same file share one open file, as 2&gt;&amp;1 does.</summary>
    public string? StandardInputPath { get; init; }
    public string? StandardOutputPath { get; init; }
    public string? StandardErrorPath { get; init; }

    /// <summary>Reads stdout and stderr (those without a path) through pipes instead of letting them inherit this process's.</summary>
    public OutputCapture? Capture { get; init; }
}

/// <summary>
/// Starts a command with no shell, stopped before its first instruction: the caller gets the pid of a process in
/// SIGSTOP group-stop that will execve the command when continued (SIGCONT, or a ptrace restart after PTRACE_SEIZE).
/// This is what perf's enable_on_exec counters and strace's "trace from the first instruction" need.
/// Never use System.Diagnostics.Process for such children: .NET reaps its own children on SIGCHLD and would steal
/// the wait statuses a tracer needs. A tracer must call StartStopped on the thread that will make its ptrace calls.
/// </summary>
public static class ChildLauncher
{
    private static readonly object Gate = new();
    private static SafeFileDescriptor? _trampoline;

    /// <summary>Finds the program as execvp(3) would: a name with '/' relative to the working directory, else on PATH.</summary>
    public static string ResolveCommand(string command, string? workingDirectory = null)
    {
        UserInputCheck(command);
        if (command.Length == 0)
            throw new KernelDebugException("The command is empty.", "CommandNotFound", ErrorCategory.InvalidArgument);
        string? path;
        if (command.Contains('/'))
            path = Path.GetFullPath(command, workingDirectory ?? System.Environment.CurrentDirectory);
        else
            path = (System.Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin")
                .Split(':', StringSplitOptions.RemoveEmptyEntries)
                .Select(d => Path.Combine(d, command))
                .FirstOrDefault(p => File.Exists(p));
        if (path is null || !File.Exists(path))
            throw new KernelDebugException(
                Directory.Exists(path ?? "") ? $"'{command}' is a directory, not a program." : $"The command '{command}' was not found{(command.Contains('/') ? "" : " on PATH")}.",
                "CommandNotFound", ErrorCategory.ObjectNotFound) { Target = command };
        var mode = File.GetUnixFileMode(path);
        if ((mode & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) == 0)
            throw new KernelDebugException($"'{path}' is not executable.", "CommandNotExecutable", ErrorCategory.PermissionDenied)
            { Target = command, Remedy = $"chmod +x {path}" };
        return path;
    }

    private static void UserInputCheck(string s)
    {
        if (s.IndexOf('\0') >= 0)
            throw new KernelDebugException("The command contains a NUL character.", "UnsafeUserString", ErrorCategory.InvalidArgument);
    }

    /// <summary>Starts the target stopped (see the class summary).</summary>
    public static LaunchedProcess StartStopped(LaunchTarget target) => StartStopped(target.Command, target.Arguments, target.Options);

    private static readonly System.Collections.Concurrent.BlockingCollection<Action> LauncherQueue = new();
    private static readonly Lazy<Thread> LauncherThread = new(() =>
    {
        var t = new Thread(() => { foreach (var work in LauncherQueue.GetConsumingEnumerable()) work(); })
        { IsBackground = true, Name = "kerneldebug launcher" };
        t.Start();
        return t;
    });

    /// <summary>
    /// Starts the target stopped from a thread that lives as long as the process. The command's death signal
    /// (PR_SET_PDEATHSIG) follows the thread that started it: a command that outlives the cmdlet starting it (a
    /// background recording) must not die when that cmdlet's thread ends (a thread job, a remoting pipeline).
    /// Not for ptrace tracers, which must start their tracee on their own thread.
    /// </summary>
    public static LaunchedProcess StartStoppedOnLauncherThread(LaunchTarget target)
    {
        _ = LauncherThread.Value;
        var done = new TaskCompletionSource<LaunchedProcess>(TaskCreationOptions.RunContinuationsAsynchronously);
        LauncherQueue.Add(() =>
        {
            try { done.SetResult(StartStopped(target)); }
            catch (Exception e) { done.SetException(e); }
        });
        try { return done.Task.GetAwaiter().GetResult(); }
        catch (AggregateException e) when (e.InnerException is not null) { throw e.InnerException; }
    }

    /// <summary>Starts the command stopped (see the class summary). The process is a child of this one.</summary>
    public static unsafe LaunchedProcess StartStopped(string command, IReadOnlyList<string> arguments, LaunchOptions? options = null)
    {
        options ??= new LaunchOptions();
        var path = ResolveCommand(command, options.WorkingDirectory);
        foreach (var a in arguments) UserInputCheck(a);

        var trampoline = GetTrampoline();
        var (statusRead, statusWrite) = Interop.Pipe();
        SafeFileDescriptor? filterFd = null;
        (SafeFileDescriptor Read, SafeFileDescriptor Write)? outPipe = null, errPipe = null;
        try
        {
            if (options.Capture is not null)
            {
                if (options.StandardOutputPath is null) outPipe = Interop.Pipe();
                if (options.StandardErrorPath is null) errPipe = Interop.Pipe();
            }
            if (options.SeccompFilter is { } filter)
            {
                if (filter.Length == 0 || filter.Length % 8 != 0 || filter.Length > 65536)
                    throw new KernelDebugException("A seccomp filter is a non-empty array of 8-byte instructions, at most 8192 of them.", "InvalidSeccompFilter", ErrorCategory.InvalidArgument);
                filterFd = NewMemfd("kerneldebug-seccomp", filter);
            }

            var argv = new List<string> { "kerneldebug-launch", filterFd is null ? "-" : "s", path };
            // The command's argv[0] is the path as given (as strace and perf show it), then the arguments.
            argv[2] = path;
            argv.AddRange(arguments);
            var env = options.Environment?.Select(kv => $"{kv.Key}={kv.Value}")
                      ?? System.Environment.GetEnvironmentVariables().Cast<DictionaryEntry>().Select(e => $"{e.Key}={e.Value}");

            using var native = new NativeStrings(argv, env.ToList());
            byte* actions = stackalloc byte[Interop.SpawnFileActionsSize];
            byte* attr = stackalloc byte[Interop.SpawnAttrSize];
            byte* empty = stackalloc byte[Interop.SigSetSize];
            byte* full = stackalloc byte[Interop.SigSetSize];
            Interop.posix_spawn_file_actions_init(actions);
            Interop.posix_spawnattr_init(attr);
            try
            {
                Interop.sigemptyset(empty);
                Interop.sigfillset(full);
                // The runtime blocks and handles signals of its own; the command starts with none blocked and all defaults.
                Interop.posix_spawnattr_setflags(attr, Interop.POSIX_SPAWN_SETSIGMASK | Interop.POSIX_SPAWN_SETSIGDEF);
                Interop.posix_spawnattr_setsigmask(attr, empty);
                Interop.posix_spawnattr_setsigdefault(attr, full);
                if (options.WorkingDirectory is { } cwd) SpawnCheck(Interop.posix_spawn_file_actions_addchdir_np(actions, cwd), "chdir", cwd);
                if (options.StandardInputPath is { } si) SpawnCheck(Interop.posix_spawn_file_actions_addopen(actions, 0, si, Interop.O_RDONLY, 0), "open", si);
                if (options.StandardOutputPath is { } so) SpawnCheck(Interop.posix_spawn_file_actions_addopen(actions, 1, so, Interop.O_WRONLY | Interop.O_CREAT | Interop.O_TRUNC, 0x1a4), "open", so);
                else if (outPipe is { } op) SpawnCheck(Interop.posix_spawn_file_actions_adddup2(actions, op.Write.Fd, 1), "dup2", "stdout pipe");
                if (options.StandardErrorPath is { } se)
                {
                    if (se == options.StandardOutputPath) SpawnCheck(Interop.posix_spawn_file_actions_adddup2(actions, 1, 2), "dup2", se);
                    else SpawnCheck(Interop.posix_spawn_file_actions_addopen(actions, 2, se, Interop.O_WRONLY | Interop.O_CREAT | Interop.O_TRUNC, 0x1a4), "open", se);
                }
                else if (errPipe is { } ep) SpawnCheck(Interop.posix_spawn_file_actions_adddup2(actions, ep.Write.Fd, 2), "dup2", "stderr pipe");
                if (filterFd is not null) SpawnCheck(Interop.posix_spawn_file_actions_adddup2(actions, filterFd.Fd, 3), "dup2", "seccomp filter");
                SpawnCheck(Interop.posix_spawn_file_actions_adddup2(actions, statusWrite.Fd, 4), "dup2", "exec status pipe");

                int pid;
                int rc = Interop.posix_spawn(&pid, $"/proc/self/fd/{trampoline.Fd}", actions, attr, native.Argv, native.Envp);
                if (rc != 0) throw new KernelDebugException(rc, "posix_spawn", path);

                statusWrite.Dispose();
                // The child holds the write ends now; ours would keep the pipes from ever reaching end of file.
                outPipe?.Write.Dispose();
                errPipe?.Write.Dispose();
                if (outPipe is not null || errPipe is not null)
                {
                    options.Capture!.Start(outPipe?.Read, errPipe?.Read);
                    outPipe = errPipe = null;
                }
                if (Interop.WaitPid(pid, out var ws, Interop.WUNTRACED | Interop.__WALL) < 0)
                    throw new KernelDebugException(Errno.Last, "waitpid", path);
                if (!ws.Stopped || ws.StopSignal != Interop.SIGSTOP)
                    throw new KernelDebugException($"The launcher for '{path}' did not stop before exec ({ws}).", "LaunchFailed", ErrorCategory.InvalidResult);
                return new LaunchedProcess(pid, path, arguments, statusRead);
            }
            finally
            {
                Interop.posix_spawn_file_actions_destroy(actions);
                Interop.posix_spawnattr_destroy(attr);
            }
        }
        catch
        {
            statusRead.Dispose();
            throw;
        }
        finally
        {
            statusWrite.Dispose();
            filterFd?.Dispose();
            outPipe?.Read.Dispose(); outPipe?.Write.Dispose();
            errPipe?.Read.Dispose(); errPipe?.Write.Dispose();
        }
    }

    private static void SpawnCheck(int rc, string what, string target)
    {
        if (rc != 0) throw new KernelDebugException(rc, $"posix_spawn {what}", target);
    }

    private static SafeFileDescriptor GetTrampoline()
    {
        lock (Gate)
        {
            return _trampoline ??= NewMemfd("kerneldebug-launch", Trampoline.BuildElf(RuntimeInformation.ProcessArchitecture));
        }
    }

    private static SafeFileDescriptor NewMemfd(string name, byte[] content)
    {
        int fd = Interop.memfd_create(name, Interop.MFD_CLOEXEC);
        if (fd < 0) throw new KernelDebugException(Errno.Last, "memfd_create", name);
        var handle = new SafeFileDescriptor(fd);
        Interop.Write(handle, content, name);
        Interop.Check(Interop.lseek(handle, 0, Interop.SEEK_SET), "lseek", name);
        return handle;
    }

    /// <summary>NUL-terminated UTF-8 argv and envp arrays in native memory.</summary>
    private sealed unsafe class NativeStrings : IDisposable
    {
        private readonly List<nint> _allocations = new();

        public NativeStrings(IReadOnlyList<string> argv, IReadOnlyList<string> envp)
        {
            Argv = Array(argv);
            Envp = Array(envp);
        }

        public nint* Argv { get; }
        public nint* Envp { get; }

        private nint* Array(IReadOnlyList<string> items)
        {
            var block = (nint*)NativeMemory.Alloc((nuint)((items.Count + 1) * sizeof(nint)));
            _allocations.Add((nint)block);
            for (int i = 0; i < items.Count; i++)
            {
                var bytes = Encoding.UTF8.GetBytes(items[i]);
                var s = (byte*)NativeMemory.Alloc((nuint)bytes.Length + 1);
                _allocations.Add((nint)s);
                bytes.CopyTo(new Span<byte>(s, bytes.Length));
                s[bytes.Length] = 0;
                block[i] = (nint)s;
            }
            block[items.Count] = 0;
            return block;
        }

        public void Dispose()
        {
            foreach (var a in _allocations) NativeMemory.Free((void*)a);
        }
    }
}

/// <summary>A child started by ChildLauncher: stopped before exec until resumed.</summary>
public sealed class LaunchedProcess : IDisposable
{
    private readonly SafeFileDescriptor _execStatus;
    private bool _reaped;

    internal LaunchedProcess(int pid, string path, IReadOnlyList<string> arguments, SafeFileDescriptor execStatus)
    {
        ProcessId = pid;
        Path = path;
        Arguments = arguments;
        _execStatus = execStatus;
    }

    public int ProcessId { get; }
    public string Path { get; }
    public IReadOnlyList<string> Arguments { get; }
    public WaitStatus? ExitStatus { get; private set; }

    /// <summary>Lets the stopped child run on to the exec (not for a ptrace-seized child: restart it with ptrace instead).</summary>
    public void Resume() => Interop.Check(Interop.kill(ProcessId, Interop.SIGCONT), "kill SIGCONT", Path);

    /// <summary>After Resume (untraced): blocks until the exec happened (0) or failed (its errno).</summary>
    public int WaitForExec()
    {
        Span<byte> buf = stackalloc byte[4];
        int n = Interop.Read(_execStatus, buf, "exec status");
        return n == 4 ? BitConverter.ToInt32(buf) : 0;
    }

    /// <summary>The exec's errno when the exec failed; 0 when it succeeded or has not happened. Valid once the child exited.</summary>
    public unsafe int ExecErrorAfterExit()
    {
        Span<byte> buf = stackalloc byte[4];
        var poll = new Interop.PollFd { Fd = _execStatus.Fd, Events = Interop.POLLIN };
        if (Interop.poll(&poll, 1, 0) <= 0 || (poll.Revents & Interop.POLLIN) == 0) return 0;
        return Interop.Read(_execStatus, buf, "exec status") == 4 ? BitConverter.ToInt32(buf) : 0;
    }

    /// <summary>Throws a clear error when the exec failed (after Resume/WaitForExec or after exit).</summary>
    public static void ThrowIfExecFailed(int errno, string path)
    {
        if (errno != 0)
            throw new KernelDebugException(errno, "execve", path) { Target = path };
    }

    /// <summary>Waits for the child to end (untraced children only; a tracer runs its own waitpid loop).</summary>
    public WaitStatus WaitForExit()
    {
        if (ExitStatus is { } done) return done;
        while (true)
        {
            if (Interop.WaitPid(ProcessId, out var ws, Interop.__WALL) < 0)
                throw new KernelDebugException(Errno.Last, "waitpid", Path);
            if (ws.Exited || (!ws.Stopped && ws.TermSignal != 0))
            {
                _reaped = true;
                ExitStatus = ws;
                return ws;
            }
        }
    }

    /// <summary>Marks the child as reaped by someone else's waitpid (a tracer's loop).</summary>
    public void MarkReaped(WaitStatus status)
    {
        _reaped = true;
        ExitStatus = status;
    }

    public void Kill(int signal = Interop.SIGKILL) => Interop.kill(ProcessId, signal);

    /// <summary>A child never left behind: one still unreaped is killed and reaped.</summary>
    public void Dispose()
    {
        if (!_reaped)
        {
            Interop.kill(ProcessId, Interop.SIGKILL);
            Interop.WaitPid(ProcessId, out _, Interop.__WALL);
            _reaped = true;
        }
        _execStatus.Dispose();
    }
}
