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

    public LibraryCallSession(string libraryPath, IReadOnlyList<ElfSymbol> functions, Architecture? architecture = null)
    {
        LibraryPath = libraryPath;
        var arch = architecture ?? RuntimeInformation.ProcessArchitecture;
        Functions = functions.Select(f => f.Name).ToArray();
        Prototypes = Functions.Select(LibraryPrototypes.For).ToArray();
        _scope = new ProbeScope(new DynamicEvents(KernelFileSystems.GetTraceFs()));
        try
        {
            for (int i = 0; i < functions.Count; i++)
            {
                var stem = $"lc{i}_{Sanitize(functions[i].Name)}";
                if (stem.Length > 48) stem = stem[..48];
                var entry = stem;
                var ret = stem + "_ret";
                _scope.Add(ProbeCommand.Uprobe(Host.Naming.ProcessGroup, entry, libraryPath, functions[i].FileOffset, false, LibraryPrototypes.EntryFetchArgs(Prototypes[i], arch)), ProbeEventsFile.UprobeEvents);
                _scope.Add(ProbeCommand.Uprobe(Host.Naming.ProcessGroup, ret, libraryPath, functions[i].FileOffset, true, LibraryPrototypes.ReturnFetchArgs(Prototypes[i])), ProbeEventsFile.UprobeEvents);
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

/// <summary>Pairs entry and return records per thread (a stack each) into LibraryCall objects.</summary>
public sealed class LibraryCallPairer
{
    private const int MaxDepth = 4096;
    private readonly LibraryCallSession _session;
    private readonly string _library;
    private readonly Dictionary<int, Stack<Pending>> _stacks = new();
    private readonly Dictionary<int, int> _tgids = new();

    private sealed record Pending(int Function, TraceRecord Entry);

    public LibraryCallPairer(LibraryCallSession session)
    {
        _session = session;
        _library = Path.GetFileName(session.LibraryPath);
    }

    /// <summary>Calls of other threads seen before a return (call nesting beyond MaxDepth is dropped, oldest first).</summary>
    /// <summary>Threads whose process is known up front (the started command, the threads of -ProcessId).</summary>
    public void SetThreadGroup(int tid, int tgid) => _tgids[tid] = tgid;

    public IEnumerable<LibraryCall> Add(TraceRecord r)
    {
        if (r.System == "task" && r.Name == "task_newtask")
        {
            NoteNewTask(r);
            yield break;
        }
        if (!_session.TryClassify(r, out int function, out bool isReturn)) yield break;
        int tid = r.ProcessId;
        if (!_tgids.ContainsKey(tid)) _tgids[tid] = ThreadGroupOf(tid);
        if (!_stacks.TryGetValue(tid, out var stack)) _stacks[tid] = stack = new Stack<Pending>();
        if (!isReturn)
        {
            if (stack.Count >= MaxDepth) yield break;
            stack.Push(new Pending(function, r));
            yield break;
        }
        // A return with no entry (the probes came up mid-call) is dropped; entries above it never returned (longjmp).
        if (!stack.Any(p => p.Function == function)) yield break;
        while (stack.Count > 0)
        {
            var p = stack.Pop();
            if (p.Function == function) { yield return Make(p, r); yield break; }
            yield return Make(p, null);
        }
    }

    /// <summary>Calls still open at the end (the process exited inside them): no return value, no duration.</summary>
    public IEnumerable<LibraryCall> Flush()
    {
        foreach (var stack in _stacks.Values)
            while (stack.Count > 0) yield return Make(stack.Pop(), null);
    }

    private LibraryCall Make(Pending p, TraceRecord? ret)
    {
        var proto = _session.Prototypes[p.Function];
        var e = p.Entry;
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
            Function = _session.Functions[p.Function],
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

/// <summary>ltrace -c: calls and time per function, with each function's share of the total.</summary>
public sealed class LibraryCallAggregator
{
    private readonly Dictionary<string, (long Calls, long Ticks)> _byFunction = new(StringComparer.Ordinal);

    public void Add(LibraryCall c)
    {
        _byFunction.TryGetValue(c.Function, out var s);
        _byFunction[c.Function] = (s.Calls + 1, s.Ticks + (c.Duration?.Ticks ?? 0));
    }

    public IReadOnlyList<LibraryCallSummary> Summaries()
    {
        long total = _byFunction.Values.Sum(v => v.Ticks);
        return _byFunction
            .Select(kv => new LibraryCallSummary
            {
                Function = kv.Key,
                Calls = kv.Value.Calls,
                TotalTime = TimeSpan.FromTicks(kv.Value.Ticks),
                AverageTime = TimeSpan.FromTicks(kv.Value.Calls == 0 ? 0 : kv.Value.Ticks / kv.Value.Calls),
                Percent = total == 0 ? 0 : Math.Round(100.0 * kv.Value.Ticks / total, 2),
            })
            .OrderByDescending(s => s.TotalTime).ThenBy(s => s.Function, StringComparer.Ordinal)
            .ToList();
    }
}
