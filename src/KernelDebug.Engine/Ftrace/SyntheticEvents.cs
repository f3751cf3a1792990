using System.Management.Automation;
using System.Text.RegularExpressions;
using KernelDebug.Host;
using KernelDebug.Native;
using KernelDebug.Probes;

namespace KernelDebug.Ftrace;

/// <summary>
/// Synthetic events: written to synthetic_events, or to dynamic_events as "s:" where the kernel's README documents it
/// (both O_APPEND, one definition a write), listed from synthetic_events, removed with '!' (or "-:"). The names the
/// module makes carry the kerneldebug prefix; those this process made are removed at exit, after the hist triggers
/// that fire them (HistTriggers.RemoveAllMade).
/// </summary>
public static class SyntheticEvents
{
    private static readonly object Gate = new();
    private static readonly List<string> Made = new();

    // After the restore stage, where HistTriggers removes the triggers that fire or read these events.
    static SyntheticEvents() => ShutdownHooks.Add(ShutdownHooks.StageRemove, RemoveAllMade);
    private static readonly Regex FieldRx = new(@"^(?:unsigned\s+)?[A-Za-z_][A-Za-z0-9_]*\s+[A-Za-z_][A-Za-z0-9_]*(?:\[\d*\])?$", RegexOptions.CultureInvariant);
    private static readonly Regex NameRx = new("^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant);

    private static string TraceFs => KernelFileSystems.GetTraceFs();
    public static string SyntheticEventsPath => Path.Combine(TraceFs, "synthetic_events");
    public static string DynamicEventsPath => Path.Combine(TraceFs, "dynamic_events");

    /// <summary>Whether the kernel takes "s:" definitions in dynamic_events (its README documents them).</summary>
    public static bool HasDynamicEventsSyntax(string? readme) => readme is not null && readme.Contains("s:[synthetic/]", StringComparison.Ordinal);

    /// <summary>The definition line "name type field; type field"; refuses names and fields that are not C-like.</summary>
    public static string Definition(string name, IReadOnlyList<string> fields)
    {
        UserInput.EnsureSingleLine(name, "Name");
        if (!NameRx.IsMatch(name) || name.Length > 63)
            throw new KernelDebugException($"'{name}' is not a synthetic event name: a C identifier of up to 63 characters.", "SyntheticEventNameInvalid", ErrorCategory.InvalidArgument) { Target = name };
        if (!name.StartsWith(Naming.Prefix, StringComparison.Ordinal))
            throw new KernelDebugException($"Synthetic events made by the module start with '{Naming.Prefix}' (every tool on the host shares the names): '{name}' does not.", "SyntheticEventNameInvalid", ErrorCategory.InvalidArgument) { Target = name };
        if (fields.Count == 0)
            throw new KernelDebugException("A synthetic event has at least one field ('u64 lat').", "SyntheticEventFieldInvalid", ErrorCategory.InvalidArgument) { Target = name };
        var parts = new List<string>();
        foreach (var raw in fields)
        {
            UserInput.EnsureSingleLine(raw, "Field");
            var f = Regex.Replace(raw.Trim().TrimEnd(';'), @"\s+", " ");
            if (!FieldRx.IsMatch(f))
                throw new KernelDebugException($"'{raw}' is not a synthetic event field: 'type name' (u64 lat, pid_t pid, char comm[16]).", "SyntheticEventFieldInvalid", ErrorCategory.InvalidArgument) { Target = raw };
            parts.Add(f);
        }
        return name + " " + string.Join("; ", parts);
    }

    /// <summary>The synthetic events synthetic_events lists ("name\tfield; field").</summary>
    public static List<SyntheticEvent> Parse(string text)
    {
        var list = new List<SyntheticEvent>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            if (line.StartsWith("s:", StringComparison.Ordinal)) line = line[2..];
            int sp = line.IndexOfAny(new[] { ' ', '\t' });
            var name = sp < 0 ? line : line[..sp];
            int slash = name.IndexOf('/');
            if (slash >= 0) name = name[(slash + 1)..];
            var fields = sp < 0 ? Array.Empty<string>() : line[(sp + 1)..].Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            list.Add(new SyntheticEvent { Name = name, Fields = fields, Definition = raw.TrimEnd() });
        }
        return list;
    }

    public static List<SyntheticEvent> List()
    {
        var text = ControlFile.TryReadText(SyntheticEventsPath, out _);
        return text is null ? new List<SyntheticEvent>() : Parse(text);
    }

    /// <summary>The field count of a synthetic event, null when there is none of that name.</summary>
    public static int? FieldCount(string name) => List().FirstOrDefault(e => e.Name == name)?.Fields.Count;

    /// <summary>Makes one: validated, one write (dynamic_events "s:" when useDynamicEvents), the error_log entry on refusal.</summary>
    public static SyntheticEvent Add(string name, IReadOnlyList<string> fields, bool? useDynamicEvents = null)
    {
        var definition = Definition(name, fields);
        EnsureAvailable();
        if (List().Any(e => e.Name == name))
            throw new KernelDebugException($"A synthetic event named {name} exists already.", "SyntheticEventExists", ErrorCategory.ResourceExists) { Target = name };
        bool dyn = useDynamicEvents ?? HasDynamicEventsSyntax(ControlFile.TryReadText(Path.Combine(TraceFs, "README"), out _));
        if (dyn && !HasDynamicEventsSyntax(ControlFile.TryReadText(Path.Combine(TraceFs, "README"), out _)))
            throw new KernelDebugException("This kernel takes no synthetic events in dynamic_events (its README has no 's:' syntax; 5.12 and later do).", "SyntheticDynamicEventsMissing", ErrorCategory.NotImplemented) { Target = name };
        var path = dyn ? DynamicEventsPath : SyntheticEventsPath;
        var line = dyn ? "s:" + definition : definition;
        var errorLog = Path.Combine(TraceFs, "error_log");
        var before = TraceErrorLog.Snapshot(errorLog);
        try { ControlFile.Append(path, line); }
        catch (KernelDebugException ex)
        {
            var after = TraceErrorLog.Snapshot(errorLog);
            var old = new HashSet<string>(before is null ? Array.Empty<string>() : TraceErrorLog.Parse(before).Select(e => e.Raw), StringComparer.Ordinal);
            var entry = after is null ? null : TraceErrorLog.Parse(after).FirstOrDefault(e => !old.Contains(e.Raw) && e.Subsystem.Contains("synthetic", StringComparison.Ordinal));
            throw new KernelDebugException(
                $"The kernel refused the synthetic event '{line}' ({Errno.Name(ex.Errno)}){(entry is null ? "" : $": {entry.Message} at column {entry.Position}:\n{entry.Command}\n{new string(' ', Math.Max(0, entry.Position))}^")}",
                "SyntheticEventRefusedByKernel", ex.Category, ex) { Target = line, Position = entry?.Position };
        }
        lock (Gate) Made.Add(name);
        return List().FirstOrDefault(e => e.Name == name) ?? new SyntheticEvent { Name = name, Fields = fields.ToArray(), Definition = definition };
    }

    /// <summary>Removes one ('!name' in synthetic_events); false when it was not there. EBUSY while a trigger uses it.</summary>
    public static bool Remove(string name)
    {
        UserInput.EnsureSingleLine(name, "Name");
        if (!NameRx.IsMatch(name)) return false;
        if (!List().Any(e => e.Name == name)) return false;
        try { ControlFile.Append(SyntheticEventsPath, "!" + name); }
        catch (KernelDebugException ex) when (ex.Errno == Errno.EBUSY)
        {
            throw new KernelDebugException($"The synthetic event {name} is in use (a hist trigger fires it or has a trigger on it, or it is enabled): remove those first.",
                "SyntheticEventBusy", ErrorCategory.ResourceBusy, ex) { Target = name };
        }
        lock (Gate) Made.Remove(name);
        return true;
    }

    public static void EnsureAvailable()
    {
        if (File.Exists(SyntheticEventsPath)) return;
        throw new KernelDebugException(
            "This kernel has no synthetic events (no synthetic_events file in tracefs): they need CONFIG_SYNTH_EVENTS and CONFIG_HIST_TRIGGERS, e.g. the debug kernel of tests/vm (Build-DebugKernel.ps1).",
            "HistTriggersMissing", ErrorCategory.NotImplemented) { Remedy = "Boot a kernel built with CONFIG_HIST_TRIGGERS and CONFIG_SYNTH_EVENTS." };
    }

    public static void RemoveAllMade()
    {
        List<string> copy;
        lock (Gate) { copy = Made.ToList(); Made.Clear(); }
        foreach (var name in copy)
        {
            try { ControlFile.Append(SyntheticEventsPath, "!" + name); } catch (Exception) { /* best effort at exit */ }
        }
    }
}
