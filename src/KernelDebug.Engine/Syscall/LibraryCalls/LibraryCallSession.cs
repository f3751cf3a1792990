using System.Runtime.InteropServices;
using KernelDebug.Ftrace;
using KernelDebug.Host;
using KernelDebug.Probes;

namespace KernelDebug.Syscall.LibraryCalls;

/// <summary>
/// A uprobe and a uretprobe per traced function, made in the process group for one run and enabled in a private
/// instance; Dispose removes them (ProbeScope also removes them should the process end first).
/// </summary>
public sealed class LibraryCallSession : IDisposable
{
    private readonly ProbeScope _scope;
    private readonly Dictionary<string, (int Index, bool IsReturn)> _byEvent = new(StringComparer.Ordinal);

    /// <param name="points">Where each function's probes go (EntryProbePlacement); null: at each entry.</param>
    /// <param name="withArguments">False for timing only (Measure-LibraryCall): no fetch args, smaller records, cheaper hits.</param>
    public LibraryCallSession(string libraryPath, IReadOnlyList<ElfSymbol> functions, IReadOnlyList<ProbePoint>? points = null,
        bool withArguments = true, Architecture? architecture = null)
    {
        LibraryPath = libraryPath;
        var arch = architecture ?? RuntimeInformation.ProcessArchitecture;
        Functions = functions.Select(f => f.Name).ToArray();
        Prototypes = Functions.Select(LibraryPrototypes.For).ToArray();
        _scope = new ProbeScope(new DynamicEvents(KernelFileSystems.GetTraceFs()));
        try
        {
            // Unique per session: runspaces of this process (thread jobs, ForEach-Object -Parallel) share its probe group.
            int session = Host.Naming.NextSequence();
            for (int i = 0; i < functions.Count; i++)
            {
                var stem = $"lc{session}_{i}_{Sanitize(functions[i].Name)}";
                if (stem.Length > 48) stem = stem[..48];
                var entry = stem;
                var ret = stem + "_ret";
                // Both at one address: the kernel then hits one breakpoint for the entry record and the return hijack.
                ulong offset = points?[i].FileOffset ?? functions[i].FileOffset;
                _scope.Add(ProbeCommand.Uprobe(Host.Naming.ProcessGroup, entry, libraryPath, offset, false, withArguments ? LibraryPrototypes.EntryFetchArgs(Prototypes[i], arch) : new List<string>()), ProbeEventsFile.UprobeEvents);
                _scope.Add(ProbeCommand.Uprobe(Host.Naming.ProcessGroup, ret, libraryPath, offset, true, withArguments ? LibraryPrototypes.ReturnFetchArgs(Prototypes[i]) : new List<string>()), ProbeEventsFile.UprobeEvents);
                _byEvent[entry] = (i, false);
                _byEvent[ret] = (i, true);
            }
            TraceEventCatalog.Invalidate();
        }
        catch
        {
            _scope.Dispose();
            throw;
        }
    }

    public string LibraryPath { get; }
    public string[] Functions { get; }
    public LibraryPrototype[] Prototypes { get; }

    public IReadOnlyList<(string System, string Name)> Events => _byEvent.Keys.Select(k => (Host.Naming.ProcessGroup, k)).ToList();

    /// <summary>
    /// Enables every probe in the instance (after its set_event_pid is written, so nothing else is recorded), and
    /// task:task_newtask where the kernel has it: it tells the process of each new thread while /proc may not anymore.
    /// </summary>
    public void Enable(FtraceInstance instance)
    {
        var events = Events.ToList();
        if (Directory.Exists(instance.FilePath("events/task/task_newtask"))) events.Add(("task", "task_newtask"));
        instance.EnableEvents(events, null);
    }

    public bool TryClassify(TraceRecord r, out int function, out bool isReturn)
    {
        function = -1; isReturn = false;
        if (r.System != Host.Naming.ProcessGroup || !_byEvent.TryGetValue(r.Name, out var e)) return false;
        (function, isReturn) = e;
        return true;
    }

    private static string Sanitize(string name) => new(name.Select(c => char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_').ToArray());

    public void Dispose() => _scope.Dispose();
}

/// <summary>
/// The open calls of each thread, innermost on top. A return pops its function's call; calls above it never returned
/// (longjmp) and come out unfinished; a return with no entry (the probes came up mid-call) is dropped.
/// </summary>
internal sealed class CallStacks<T>
{
    private const int MaxDepth = 4096;
    private readonly Dictionary<int, Stack<(int Function, T Entry)>> _stacks = new();

    public void Enter(int tid, int function, T entry)
    {
        if (!_stacks.TryGetValue(tid, out var stack)) _stacks[tid] = stack = new Stack<(int, T)>();
        if (stack.Count < MaxDepth) stack.Push((function, entry));
    }

    /// <summary>The entry the return of <paramref name="function"/> closes, after passing each unfinished call above it to <paramref name="unfinished"/>.</summary>
    public bool Return(int tid, int function, Action<int, T> unfinished, out T entry)
    {
        entry = default!;
        if (!_stacks.TryGetValue(tid, out var stack)) return false;
        bool open = false;
        foreach (var (f, _) in stack)
            if (f == function) { open = true; break; }
        if (!open) return false;
        while (true)
        {
            var (f, e) = stack.Pop();
            if (f == function) { entry = e; return true; }
            unfinished(f, e);
        }
    }

    /// <summary>Every call still open (the process ended inside it), emptying the stacks.</summary>
    public IEnumerable<(int Function, T Entry)> Drain()
    {
        foreach (var stack in _stacks.Values)
            while (stack.Count > 0) yield return stack.Pop();
    }
}

/// <summary>Pairs entry and return records per thread into LibraryCall objects.</summary>
public sealed class LibraryCallPairer
{
    private readonly LibraryCallSession _session;
    private readonly string _library;
    private readonly CallStacks<TraceRecord> _stacks = new();
    private readonly Dictionary<int, int> _tgids = new();
    private readonly List<LibraryCall> _out = new();

    public LibraryCallPairer(LibraryCallSession session)
    {
        _session = session;
        _library = Path.GetFileName(session.LibraryPath);
    }

    /// <summary>Threads whose process is known up front (the started command, the threads of -ProcessId).</summary>
    public void SetThreadGroup(int tid, int tgid) => _tgids[tid] = tgid;

    /// <summary>The calls this record completes (a return, and any unfinished calls above it), in order.</summary>
    public IReadOnlyList<LibraryCall> Add(TraceRecord r)
    {
        _out.Clear();
        if (r.System == "task" && r.Name == "task_newtask")
        {
            NoteNewTask(r);
            return _out;
        }
        if (!_session.TryClassify(r, out int function, out bool isReturn)) return _out;
        int tid = r.ProcessId;
        if (!_tgids.ContainsKey(tid)) _tgids[tid] = ThreadGroupOf(tid);
        if (!isReturn) _stacks.Enter(tid, function, r);
        else if (_stacks.Return(tid, function, (f, e) => _out.Add(Make(f, e, null)), out var entry)) _out.Add(Make(function, entry, r));
        return _out;
    }

    /// <summary>Calls still open at the end (the process exited inside them): no return value, no duration.</summary>
    public IEnumerable<LibraryCall> Flush() => _stacks.Drain().Select(p => Make(p.Function, p.Entry, null)).ToList();

    private LibraryCall Make(int function, TraceRecord e, TraceRecord? ret)
    {
        var proto = _session.Prototypes[function];
        var args = new SyscallArgument[proto.Arguments.Length];
        for (int i = 0; i < args.Length; i++)
        {
            var (name, kind) = proto.Arguments[i];
            ulong raw = Word(e.Fields[$"a{i}"]);
            var value = LibraryPrototypes.Typed(kind, raw, e.Fields[$"s{i}"] as string);
            args[i] = new SyscallArgument(name, value, raw, LibraryPrototypes.Text(kind, value, raw));
        }
        object? retValue = null;
        ulong? retRaw = null;
        if (ret is not null)
        {
            retRaw = Word(ret.Fields["ret"]);
            retValue = LibraryPrototypes.Typed(proto.Return, retRaw.Value, ret.Fields["rets"] as string);
        }
        int tid = e.ProcessId;
        return new LibraryCall
        {
            Timestamp = e.Time ?? DateTime.MinValue,
            ProcessId = _tgids.TryGetValue(tid, out var tg) ? tg : tid,
            ThreadId = tid,
            Library = _library,
            Function = _session.Functions[function],
            Arguments = args,
            ReturnValue = retValue,
            ReturnRaw = retRaw,
            ReturnText = retRaw is { } rr ? LibraryPrototypes.Text(proto.Return, retValue, rr) : "?",
            Duration = ret is null ? null : TimeSpan.FromTicks((long)((ret.Timestamp - e.Timestamp) / 100)),
        };
    }

    private static ulong Word(object? v) => v switch
    {
        ulong u => u,
        long l => unchecked((ulong)l),
        uint u => u,
        int i => unchecked((ulong)(long)i),
        null => 0,
        _ => Convert.ToUInt64(v, System.Globalization.CultureInfo.InvariantCulture),
    };

    private void NoteNewTask(TraceRecord r)
    {
        const ulong CloneThread = 0x10000;
        if (r.Fields["pid"] is not int child) return;
        ulong flags = Word(r.Fields["clone_flags"]);
        int parent = r.ProcessId;
        if (!_tgids.TryGetValue(parent, out var parentGroup)) _tgids[parent] = parentGroup = ThreadGroupOf(parent);
        _tgids[child] = (flags & CloneThread) != 0 ? parentGroup : child;
    }

    /// <summary>The thread group (process) of a thread, read while it lives; the thread id itself once it is gone.</summary>
    private static int ThreadGroupOf(int tid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{tid}/status"))
                if (line.StartsWith("Tgid:", StringComparison.Ordinal) && int.TryParse(line.AsSpan(5).Trim(), out var tgid)) return tgid;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return tid;
    }
}

/// <summary>
/// ltrace -c: entry and return timestamps paired per thread and summed per function, with each function's share of
/// the total. No LibraryCall objects: the records of timing-only probes carry no arguments.
/// </summary>
public sealed class LibraryCallTimer
{
    private readonly LibraryCallSession _session;
    private readonly CallStacks<ulong> _stacks = new();
    private readonly long[] _calls;
    private readonly long[] _nanoseconds;
    private readonly Action<int, ulong> _unfinished;

    public LibraryCallTimer(LibraryCallSession session)
    {
        _session = session;
        _calls = new long[session.Functions.Length];
        _nanoseconds = new long[session.Functions.Length];
        _unfinished = (f, _) => _calls[f]++;
    }

    public void Add(TraceRecord r)
    {
        if (!_session.TryClassify(r, out int function, out bool isReturn)) return;
        if (!isReturn) _stacks.Enter(r.ProcessId, function, r.Timestamp);
        else if (_stacks.Return(r.ProcessId, function, _unfinished, out var start))
        {
            _calls[function]++;
            _nanoseconds[function] += (long)(r.Timestamp - start);
        }
    }

    public IReadOnlyList<LibraryCallSummary> Summaries()
    {
        foreach (var (f, _) in _stacks.Drain()) _calls[f]++;
        long total = _nanoseconds.Sum();
        return Enumerable.Range(0, _calls.Length)
            .Where(i => _calls[i] > 0)
            .Select(i => new LibraryCallSummary
            {
                Function = _session.Functions[i],
                Calls = _calls[i],
                TotalTime = TimeSpan.FromTicks(_nanoseconds[i] / 100),
                AverageTime = TimeSpan.FromTicks(_nanoseconds[i] / 100 / _calls[i]),
                Percent = total == 0 ? 0 : Math.Round(100.0 * _nanoseconds[i] / total, 2),
            })
            .OrderByDescending(s => s.TotalTime).ThenBy(s => s.Function, StringComparer.Ordinal)
            .ToList();
    }
}
