using System.Management.Automation;
using KernelDebug.Ftrace;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Probes;

/// <summary>
/// Creates, lists, enables and removes dynamic events through tracefs: one write() per definition on an O_APPEND
/// descriptor, validated first; a refused write is explained from error_log; nothing is left half-made.
/// </summary>
public sealed class DynamicEvents
{
    public DynamicEvents(string traceFs, IProbeEnvironment? environment = null)
    {
        TraceFs = traceFs;
        Environment = environment ?? new HostProbeEnvironment(traceFs);
    }

    public string TraceFs { get; }
    public IProbeEnvironment Environment { get; }

    public static string FileName(ProbeEventsFile file) => file switch
    {
        ProbeEventsFile.KprobeEvents => "kprobe_events",
        ProbeEventsFile.UprobeEvents => "uprobe_events",
        _ => "dynamic_events",
    };

    public static ProbeEventsFile FileFor(ProbeKind kind) => kind switch
    {
        ProbeKind.Kprobe => ProbeEventsFile.KprobeEvents,
        ProbeKind.Uprobe => ProbeEventsFile.UprobeEvents,
        _ => ProbeEventsFile.DynamicEvents,
    };

    /// <summary>The capability a kind needs, and the kernel option behind it.</summary>
    public static (string Capability, string Option) Requirement(ProbeKind kind) => kind switch
    {
        ProbeKind.Kprobe => ("Kprobes", "CONFIG_KPROBE_EVENTS"),
        ProbeKind.Uprobe => ("Uprobes", "CONFIG_UPROBE_EVENTS"),
        ProbeKind.Eprobe => ("Eprobes", "CONFIG_EPROBE_EVENTS"),
        ProbeKind.Fprobe or ProbeKind.Tprobe => ("Fprobes", "CONFIG_FPROBE_EVENTS"),
        _ => ("TraceFs", "CONFIG_TRACING"),
    };

    /// <summary>Throws NotInstalled with the capability's reason and remedy when the kernel cannot make this kind of probe.</summary>
    public static void EnsureSupported(ProbeKind kind)
    {
        var (cap, option) = Requirement(kind);
        var c = CapabilityProbe.Run(new[] { cap }).FirstOrDefault();
        if (c is null || c.Available) return;
        // A tracefs this process may not read looks like a kernel without probes: say it is a permission problem.
        string? traceFs = null;
        try { traceFs = Host.KernelFileSystems.GetTraceFs(); } catch (KernelDebugException) { }
        if (traceFs is not null)
        {
            using var fd = Interop.TryOpen(Path.Combine(traceFs, "README"), Interop.O_RDONLY, out var errno);
            if (fd is null && errno is Errno.EACCES or Errno.EPERM)
                throw new KernelDebugException($"This process cannot read tracefs at {traceFs} ({Errno.Name(errno)}), so it cannot make {kind}s.",
                    "TraceFsAccessDenied", ErrorCategory.PermissionDenied) { Target = traceFs, Remedy = "Run pwsh as root (sudo pwsh): tracefs is open to root only on this host." };
        }
        throw new KernelDebugException($"{kind}s are not available on this kernel: {c.Detail}.", $"{kind}NotSupported", ErrorCategory.NotInstalled)
        {
            Remedy = c.Remedy ?? $"Boot a kernel built with {option}.",
        };
    }

    public string PathOf(ProbeEventsFile file) => Path.Combine(TraceFs, FileName(file));

    /// <summary>The probes listed in a control file, with their enabled state.</summary>
    public IReadOnlyList<ProbeDefinition> List(ProbeEventsFile file)
    {
        var path = PathOf(file);
        if (!File.Exists(path)) return Array.Empty<ProbeDefinition>();
        var list = ProbeListParser.ParseList(ControlFile.ReadText(path), FileName(file)).ToList();
        foreach (var d in list)
        {
            d.EnabledIn = ItemList.Of(EnabledIn(d.Group, d.Name));
            d.Enabled = d.EnabledIn.Count > 0;
        }
        return list;
    }

    /// <summary>Validates, then writes one definition in one write(); on refusal, the kernel's error_log entry explains it.</summary>
    public ProbeDefinition Create(string command, ProbeEventsFile file)
    {
        var error = ProbeValidator.Validate(command, file, Environment);
        if (error is not null) throw error.ToException();
        var normalized = string.Join(' ', ProbeValidator.Split(command));
        var errorLog = Path.Combine(TraceFs, "error_log");
        // The kernel adds a definition whose group/event exists to that event as one more probe (a multi-probe event)
        // when the kinds match: refuse the name instead. The check and the write hold the module's probe lock, so two
        // sessions of this module cannot both pass the check.
        using var guard = LockProbeDefinitions();
        var (newGroup, newName) = NameOf(normalized);
        if (newName.Length > 0 && Directory.Exists(Path.Combine(TraceFs, "events", newGroup.Length > 0 ? newGroup : DefaultGroupOf(normalized), newName)))
            throw new KernelDebugException(
                $"An event named {(newGroup.Length > 0 ? newGroup : DefaultGroupOf(normalized))}/{newName} already exists; the kernel would add this definition to it as a second probe of one event. Remove it first (Remove-DynamicEvent) or choose another -Name.",
                "ProbeExists", ErrorCategory.ResourceExists) { Target = normalized };
        var before = TraceErrorLog.Snapshot(errorLog);
        try
        {
            ControlFile.Append(PathOf(file), normalized);
        }
        catch (KernelDebugException e)
        {
            var entry = TraceErrorLog.FindNew(before, TraceErrorLog.Snapshot(errorLog), normalized);
            if (entry is not null)
            {
                var kind = ProbeErrors.FromText(entry.Message);
                var id = kind is null ? "ProbeRefusedByKernel" : "Probe" + kind;
                var category = e.Errno == Errno.EEXIST || kind is ProbeErrorKind.EventExist or ProbeErrorKind.SameProbe ? ErrorCategory.ResourceExists : e.Category;
                throw new KernelDebugException(
                    $"The kernel refused the probe definition ({entry.Subsystem}, {Errno.Name(e.Errno)}): {entry.Message} at column {entry.Position}:\n{entry.Command}\n{new string(' ', Math.Max(0, entry.Position))}^",
                    id, category, e) { Position = entry.Position, Target = normalized };
            }
            if (e.Errno == Errno.EEXIST)
                throw new KernelDebugException($"A probe with this group/event name already exists: {normalized}", "ProbeExists", ErrorCategory.ResourceExists, e) { Target = normalized };
            throw new KernelDebugException($"The kernel refused the probe definition ({Errno.Name(e.Errno)}, no error_log entry): {normalized}{SilentRefusalHint(normalized, file)}", "ProbeRefusedByKernel", e.Category, e) { Target = normalized };
        }
        // Event ids are reused after probes go: the ftrace decoder's id cache must forget them.
        TraceEventCatalog.Invalidate();
        var (group, name) = NameOf(normalized);
        return List(file).LastOrDefault(d => d.Group == group && d.Name == name)
            ?? throw new KernelDebugException($"The kernel accepted '{normalized}' but does not list {group}/{name} in {FileName(file)}.", "ProbeNotListed", ErrorCategory.InvalidResult);
    }

    /// <summary>
    /// An exclusive flock on /run/kerneldebug/probes.lock, waited for; null when it cannot be had (the check then runs
    /// unguarded). Not on the control file itself: .NET takes a shared flock on every file it opens to read (its
    /// FileShare emulation), so readers of uprobe_events (Get-Content) would fail while it is held.
    /// </summary>
    private static SafeFileDescriptor? LockProbeDefinitions()
    {
        try { Ftrace.InstanceLock.EnsureStateDirectory(); }
        catch (KernelDebugException) { return null; }
        var path = Path.Combine(Ftrace.InstanceLock.StateDirectory, "probes.lock");
        int raw = (int)Interop.RetryOnEintr(() => Interop.open(path, Interop.O_RDWR | Interop.O_CREAT | Interop.O_NOFOLLOW | Interop.O_CLOEXEC, 0x180 /* 0600 */));
        if (raw < 0) return null;
        var fd = new SafeFileDescriptor(raw);
        if (Interop.RetryOnEintr(() => Interop.flock(fd, Interop.LOCK_EX)) < 0) { fd.Dispose(); return null; }
        return fd;
    }

    /// <summary>The group the kernel gives a definition that names none (the first letter says the kind).</summary>
    private static string DefaultGroupOf(string definition) => definition.Length == 0 ? "" : definition[0] switch
    {
        'p' or 'r' => LooksLikeUprobe(definition) ? "uprobes" : "kprobes",
        'e' => "eprobes",
        'f' => "fprobes",
        't' => "tracepoints",
        _ => "",
    };

    // A uprobe's location is PATH:OFFSET (a path starts with '/' or '.'); a kprobe's is a symbol or address.
    private static bool LooksLikeUprobe(string definition) =>
        ProbeValidator.Split(definition).Skip(1).FirstOrDefault() is { } loc && (loc.StartsWith('/') || loc.StartsWith('.')) && loc.Contains(':');

    /// <summary>Why the kernel may refuse without a word: a uprobe at the same place with another reference counter offset.</summary>
    private string SilentRefusalHint(string definition, ProbeEventsFile file)
    {
        if (file == ProbeEventsFile.KprobeEvents || ProbeListParser.Parse(definition, FileName(file)) is not { Kind: ProbeKind.Uprobe } mine) return string.Empty;
        var clash = List(file).FirstOrDefault(d => d.Kind == ProbeKind.Uprobe && d.Offset == mine.Offset &&
            d.ReferenceCounterOffset != mine.ReferenceCounterOffset && SameFile(d.Target, mine.Target));
        return clash is null ? string.Empty
            : $". {clash.FullName} probes the same place with reference counter offset {(clash.ReferenceCounterOffset is { } r ? $"0x{r:x}" : "none")}; the kernel allows one reference counter per place.";
    }

    private static bool SameFile(string a, string b)
    {
        try { return Path.GetFullPath(new FileInfo(a).ResolveLinkTarget(true)?.FullName ?? a) == Path.GetFullPath(new FileInfo(b).ResolveLinkTarget(true)?.FullName ?? b); }
        catch (IOException) { return a == b; }
    }

    /// <summary>group and event of a definition with an explicit name.</summary>
    public static (string Group, string Name) NameOf(string definition)
    {
        var head = ProbeValidator.Split(definition)[0];
        int colon = head.IndexOf(':');
        var full = colon >= 0 ? head[(colon + 1)..] : string.Empty;
        int slash = full.IndexOf('/');
        if (slash < 0) slash = full.IndexOf('.');
        return slash < 0 ? (string.Empty, full) : (full[..slash], full[(slash + 1)..]);
    }

    /// <summary>The event directory of a probe at the top level ("") or in an instance.</summary>
    public string EventDirectory(string group, string name, string instance = "") =>
        instance.Length == 0 ? Path.Combine(TraceFs, "events", group, name) : Path.Combine(TraceFs, "instances", instance, "events", group, name);

    /// <summary>Where the event is enabled: "" for the top level, else instance names. "1" or "1*" (soft-enabled) count.</summary>
    public IReadOnlyList<string> EnabledIn(string group, string name)
    {
        var places = new List<string>();
        foreach (var instance in Instances().Prepend(string.Empty))
        {
            var text = ControlFile.TryReadText(Path.Combine(EventDirectory(group, name, instance), "enable"), out _)?.Trim();
            if (text is not null && text.StartsWith('1')) places.Add(instance);
        }
        return places;
    }

    public IEnumerable<string> Instances()
    {
        var dir = Path.Combine(TraceFs, "instances");
        return Directory.Exists(dir) ? Directory.EnumerateDirectories(dir).Select(Path.GetFileName).OfType<string>().OrderBy(n => n, StringComparer.Ordinal).ToList() : Enumerable.Empty<string>();
    }

    /// <summary>
    /// Sets the filter (when given) and enables the event, at the top level ("") or in an instance, through the ftrace
    /// engine (which puts the filter back and reports the kernel's caret when the filter is refused).
    /// </summary>
    public void Enable(string group, string name, string instance = "", string? filter = null)
    {
        var target = string.IsNullOrEmpty(instance) ? FtraceInstance.TopLevel : FtraceInstance.Get(instance);
        target.EnableEvents(new[] { (group, name) }, filter);
    }

    public void Disable(string group, string name, string instance = "") =>
        ControlFile.WriteValue(Path.Combine(EventDirectory(group, name, instance), "enable"), "0");

    /// <summary>
    /// Removes a probe (-:group/event in its own file). An enabled probe is refused with ResourceBusy unless force, which
    /// first disables it at the top level and in every instance.
    /// </summary>
    public void Remove(ProbeDefinition probe, bool force)
    {
        var places = EnabledIn(probe.Group, probe.Name);
        if (places.Count > 0)
        {
            if (!force)
                throw new KernelDebugException(
                    $"{probe.FullName} is enabled ({string.Join(", ", places.Select(p => p.Length == 0 ? "top level" : "instance " + p))}); removing it would fail.",
                    "ProbeInUse", ErrorCategory.ResourceBusy) { Target = probe.FullName, Remedy = "Disable it first, or use -Force to disable it everywhere and remove it." };
            foreach (var place in places) Disable(probe.Group, probe.Name, place);
        }
        var file = probe.Source switch
        {
            "kprobe_events" => ProbeEventsFile.KprobeEvents,
            "uprobe_events" => ProbeEventsFile.UprobeEvents,
            "dynamic_events" => ProbeEventsFile.DynamicEvents,
            _ => FileFor(probe.Kind),
        };
        var command = $"-:{probe.Group}/{probe.Name}";
        try
        {
            // Forced: right after an instance that enabled it went (or its events were disabled), the kernel may hold
            // the event a moment longer (EBUSY); retry briefly. The orphan sweep and the shutdown hooks meet this.
            for (int attempt = 0; ; attempt++)
            {
                try { ControlFile.Append(PathOf(file), command); break; }
                catch (KernelDebugException e) when (force && e.Errno == Errno.EBUSY && attempt < 10) { Thread.Sleep(100); }
            }
            TraceEventCatalog.Invalidate();
        }
        catch (KernelDebugException e) when (e.Errno == Errno.EBUSY)
        {
            throw new KernelDebugException($"{probe.FullName} is in use (perf or another tracer holds it); the kernel refused to remove it.", "ProbeInUse", ErrorCategory.ResourceBusy, e) { Target = probe.FullName };
        }
        catch (KernelDebugException e) when (e.Errno == Errno.ENOENT)
        {
            throw new KernelDebugException($"{probe.FullName} does not exist (any more).", "ProbeNotFound", ErrorCategory.ObjectNotFound, e) { Target = probe.FullName };
        }
    }
}
