namespace KernelDebug;

/// <summary>The kinds of dynamic events.</summary>
public enum ProbeKind
{
    /// <summary>p/r in kprobe_events: a kernel address or function (r: its return).</summary>
    Kprobe,
    /// <summary>p/r in uprobe_events: an offset in an ELF file.</summary>
    Uprobe,
    /// <summary>e: an event probe on another trace event.</summary>
    Eprobe,
    /// <summary>f: a function entry or exit through fprobe (ftrace).</summary>
    Fprobe,
    /// <summary>t: a probe on a tracepoint (through fprobe).</summary>
    Tprobe,
    /// <summary>s: a synthetic event (listed by dynamic_events, not a probe).</summary>
    Synthetic,
    /// <summary>u: a user_events event (listed by dynamic_events, not a probe).</summary>
    UserEvent,
}

/// <summary>One fetch argument of a probe: name=fetch[:type].</summary>
public sealed record ProbeArgument(string Name, string Fetch, string? Type)
{
    /// <summary>The text the kernel stores for it (after name=).</summary>
    public string Expression => Type is null ? Fetch : $"{Fetch}:{Type}";

    public override string ToString() => $"{Name}={Expression}";

    /// <summary>Parses "name=fetch[:type]"; an unnamed argument gets the kernel's argN name (N from 1).</summary>
    public static ProbeArgument Parse(string text, int ordinal)
    {
        int eq = text.IndexOf('=');
        string name = eq > 0 ? text[..eq] : $"arg{ordinal + 1}";
        string body = eq >= 0 ? text[(eq + 1)..] : text;
        // The type follows the last ':' outside an immediate string.
        int colon = body.StartsWith("\\\"", StringComparison.Ordinal) ? body.LastIndexOf("\":", StringComparison.Ordinal) + 1 : body.IndexOf(':');
        if (colon > 0 && colon < body.Length && body[colon] == ':')
            return new ProbeArgument(name, body[..colon], body[(colon + 1)..]);
        return new ProbeArgument(name, body, null);
    }
}

/// <summary>
/// A dynamic event as the kernel lists it (kprobe_events, uprobe_events, dynamic_events), or as New-*probe builds it.
/// </summary>
public sealed class ProbeDefinition
{
    public ProbeKind Kind { get; init; }
    public string Group { get; init; } = string.Empty;
    public string Name { get; init; } = string.Empty;
    /// <summary>Uprobe: the ELF path; kprobe: function or address; eprobe: system.event; fprobe: function; tprobe: tracepoint.</summary>
    public string Target { get; init; } = string.Empty;
    /// <summary>Uprobe: file offset; kprobe: offset from the function (0 at its entry).</summary>
    public ulong Offset { get; init; }
    public bool IsReturn { get; init; }
    public ItemList<ProbeArgument> Arguments { get; init; } = ItemList<ProbeArgument>.Empty;
    /// <summary>The definition line, as written to or listed by the kernel.</summary>
    public string Definition { get; init; } = string.Empty;
    /// <summary>True when the event is enabled at the top level or in any instance.</summary>
    public bool Enabled { get; set; }
    /// <summary>The instances (and "" for the top level) where the event is enabled.</summary>
    public ItemList<string> EnabledIn { get; set; } = ItemList<string>.Empty;
    /// <summary>Kernel module of a kprobe symbol (module:symbol), if any.</summary>
    public string? Module { get; init; }
    /// <summary>Kretprobe maxactive, when given.</summary>
    public int? MaxActive { get; init; }
    /// <summary>Uprobe reference counter (semaphore) offset, when given.</summary>
    public ulong? ReferenceCounterOffset { get; init; }
    /// <summary>Eprobe filter (if ...), when given.</summary>
    public string? Filter { get; init; }
    /// <summary>The control file the line came from, or goes to (kprobe_events, uprobe_events, dynamic_events).</summary>
    public string Source { get; init; } = string.Empty;

    /// <summary>group/name, as in events/group/name and -:group/name.</summary>
    public string FullName => $"{Group}/{Name}";

    /// <summary>True for groups the module made: kerneldebug and kerneldebug_*.</summary>
    public bool IsOwned => Host.Naming.IsOwned(Group);

    public override string ToString() => Definition;
}
