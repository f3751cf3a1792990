using System.Globalization;
using System.Management.Automation;
using KernelDebug.Native;

namespace KernelDebug.Probes;

/// <summary>
/// Builds definition lines from parts (what New-*probe take). Each part is checked for whitespace, control characters,
/// '#' and ';' first, so that one user value can never become a second word, a second definition or a comment.
/// </summary>
public static class ProbeCommand
{
    /// <summary>Refuses a value that would not stay one word of one definition.</summary>
    public static string Word(string value, string parameterName)
    {
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (char.IsControl(c) || char.IsWhiteSpace(c) || c == '#' || c == ';')
                throw new KernelDebugException(
                    $"The value of -{parameterName} contains {Describe(c)} at position {i}; a probe definition is one line of space-separated words, so it is refused before anything is written.",
                    "UnsafeUserString", ErrorCategory.InvalidArgument) { Position = i, Target = value };
        }
        if (value.Length == 0)
            throw new KernelDebugException($"The value of -{parameterName} is empty.", "EmptyUserString", ErrorCategory.InvalidArgument);
        return value;
    }

    private static string Describe(char c) => c switch
    {
        '\n' => "a newline",
        '\r' => "a carriage return",
        '#' => "'#' (the kernel would read the rest as a comment)",
        ';' => "';'",
        _ when char.IsControl(c) => $"a control character (U+{(int)c:X4})",
        _ => "whitespace",
    };

    private static string Head(char type, string group, string name, string? suffix = null) =>
        $"{type}{suffix}:{Word(group, "Group")}/{Word(name, "Name")}";

    private static string Args(IEnumerable<string>? arguments) =>
        arguments is null ? string.Empty : string.Concat(arguments.Select(a => " " + Word(a, "Argument")));

    public static string Uprobe(string group, string name, string path, ulong fileOffset, bool isReturn, IEnumerable<string>? arguments = null, ulong? referenceCounterOffset = null)
    {
        var place = $"{Word(path, "Path")}:0x{fileOffset.ToString("x", CultureInfo.InvariantCulture)}";
        if (referenceCounterOffset is { } r) place += $"(0x{r.ToString("x", CultureInfo.InvariantCulture)})";
        return $"{Head(isReturn ? 'r' : 'p', group, name)} {place}{Args(arguments)}";
    }

    public static string Kprobe(string group, string name, string? symbol, ulong offset, string? module, ulong? address, bool isReturn, int? maxActive, IEnumerable<string>? arguments = null)
    {
        string place;
        if (address is { } a) place = $"0x{a.ToString("x", CultureInfo.InvariantCulture)}";
        else
        {
            place = Word(symbol ?? throw new ArgumentException("A kprobe needs a symbol or an address."), "Symbol");
            if (module is not null) place = $"{Word(module, "Module")}:{place}";
            if (offset != 0) place += $"+{offset.ToString(CultureInfo.InvariantCulture)}";
        }
        string? max = isReturn && maxActive is { } m ? m.ToString(CultureInfo.InvariantCulture) : null;
        return $"{Head(isReturn ? 'r' : 'p', group, name, max)} {place}{Args(arguments)}";
    }

    /// <summary>e:group/name system.event [args] [if filter]; the target may be given as system:event or system/event.</summary>
    public static string Eprobe(string group, string name, string targetEvent, IEnumerable<string>? arguments = null, string? filter = null)
    {
        var target = Word(targetEvent, "TargetEvent");
        int sep = target.IndexOfAny(new[] { ':', '/' });
        if (sep > 0) target = $"{target[..sep]}.{target[(sep + 1)..]}";
        var line = $"{Head('e', group, name)} {target}{Args(arguments)}";
        if (filter is not null)
        {
            Host.UserInput.EnsureNoSeparators(filter, "Filter");
            line += " if " + filter;
        }
        return line;
    }

    public static string Fprobe(string group, string name, string function, bool isReturn, IEnumerable<string>? arguments = null) =>
        $"{Head('f', group, name)} {Word(function, "Symbol")}{(isReturn ? "%return" : string.Empty)}{Args(arguments)}";

    public static string Tprobe(string group, string name, string tracepoint, IEnumerable<string>? arguments = null) =>
        $"{Head('t', group, name)} {Word(tracepoint, "Tracepoint")}{Args(arguments)}";
}

/// <summary>
/// Probes that live for the span of one call (library-call tracing, Invoke-Ftrace): made in the process group
/// (kerneldebug_&lt;pid&gt;) and removed, disabled first, on Dispose — also after Ctrl+C or an error, when disposed in finally.
/// </summary>
public sealed class ProbeScope : IDisposable
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<ProbeScope, byte> Live = new();

    static ProbeScope()
    {
        // Should the process end before Dispose (Exit, a second Ctrl+C), its probes still go.
        Host.ShutdownHooks.Add(Host.ShutdownHooks.StageRemoveProbes, () =>
        {
            // Right after their instance went, the kernel may still hold the events for a moment (EBUSY): retry briefly.
            var scopes = Live.Keys.ToList();
            for (int attempt = 0; attempt < 10 && scopes.Count > 0; attempt++)
            {
                if (attempt > 0) Thread.Sleep(100);
                scopes = scopes.Where(scope =>
                {
                    try { scope.End(); return false; } catch (Exception) { return true; /* best effort while the process ends */ }
                }).ToList();
            }
        });
    }

    private readonly DynamicEvents _events;
    private readonly List<ProbeDefinition> _made = new();

    public ProbeScope(DynamicEvents events)
    {
        _events = events;
        Live[this] = 0;
    }

    public IReadOnlyList<ProbeDefinition> Probes => _made;

    /// <summary>Creates a uprobe on a function of an ELF file (resolved through .symtab/.dynsym) in the process group.</summary>
    public ProbeDefinition AddUprobe(string name, string path, string symbol, ulong offsetInFunction = 0, bool isReturn = false, IEnumerable<string>? arguments = null)
    {
        var elf = KernelDebug.Symbols.ElfFile.Open(path);
        var fileOffset = elf.ResolveFileOffset(symbol, offsetInFunction);
        return Add(ProbeCommand.Uprobe(Host.Naming.ProcessGroup, name, elf.Path, fileOffset, isReturn, arguments), ProbeEventsFile.UprobeEvents);
    }

    /// <summary>Creates any definition (its group should be Naming.ProcessGroup) and remembers it for removal.</summary>
    public ProbeDefinition Add(string definition, ProbeEventsFile file)
    {
        // Under the lock the shutdown hook takes: a probe is never made after the hook removed the scope's probes.
        lock (_gate)
        {
            if (_ending)
                throw new KernelDebugException("The session is ending: no more probes are made.", "SessionEnding", ErrorCategory.OperationStopped);
            var d = _events.Create(definition, file);
            _made.Add(d);
            return d;
        }
    }

    /// <summary>The shutdown hook's removal: as Dispose, and no probe is made afterwards.</summary>
    private void End()
    {
        lock (_gate)
        {
            _ending = true;
            Dispose();
        }
    }

    private bool _ending;

    public void Dispose()
    {
        // One Dispose at a time, and the scope stays in Live until its probes are gone: a SIGHUP or SIGTERM that comes
        // while the pipeline thread is removing them (a stopping pipeline) makes the shutdown hook wait for that removal
        // instead of letting the process die half-way through it (the torture suite's "SIGHUP at teardown" leak).
        lock (_gate)
        {
            List<Exception>? errors = null;
            var kept = new List<ProbeDefinition>();
            for (int i = _made.Count - 1; i >= 0; i--)
            {
                try { _events.Remove(_made[i], force: true); }
                catch (KernelDebugException e) when (e.Category == ErrorCategory.ObjectNotFound) { }
                catch (KernelDebugException e) { (errors ??= new()).Add(e); kept.Insert(0, _made[i]); }
            }
            // What could not go stays listed, so a later Dispose (the shutdown hook's retry) can try again.
            _made.Clear();
            _made.AddRange(kept);
            if (kept.Count == 0) Live.TryRemove(this, out _);
            if (errors is not null) throw new AggregateException("Some probes could not be removed.", errors);
        }
    }

    private readonly object _gate = new();
}
