using System.Collections.Concurrent;
using System.Globalization;
using System.Management.Automation;
using System.Text.RegularExpressions;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Ftrace;

/// <summary>
/// Event triggers in an instance: parsed from and written to events/&lt;system&gt;/&lt;event&gt;/trigger (O_APPEND:
/// opening it with O_TRUNC would drop every trigger of the event), validated first, the kernel's error_log text
/// on refusal. Triggers this process made are removed at exit if still there.
/// </summary>
public static class EventTriggers
{
    private static readonly ConcurrentDictionary<string, (string Path, string Removal)> Made = new();

    // Through the module's shutdown hooks, so SIGTERM and SIGHUP remove them too, before instances are removed.
    static EventTriggers() => ShutdownHooks.Add(ShutdownHooks.StageRestore, () =>
    {
        foreach (var (path, removal) in Made.Values)
        {
            try { if (File.Exists(path)) ControlFile.Append(path, removal); } catch (Exception) { /* best effort at exit */ }
        }
    });

    public static string Keyword(TraceTriggerType t) => t switch
    {
        TraceTriggerType.TraceOn => "traceon",
        TraceTriggerType.TraceOff => "traceoff",
        TraceTriggerType.Snapshot => "snapshot",
        TraceTriggerType.StackTrace => "stacktrace",
        TraceTriggerType.EnableEvent => "enable_event",
        TraceTriggerType.DisableEvent => "disable_event",
        TraceTriggerType.Hist => "hist",
        TraceTriggerType.EnableHist => "enable_hist",
        TraceTriggerType.DisableHist => "disable_hist",
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    private static TraceTriggerType? FromKeyword(string k) => k switch
    {
        "traceon" => TraceTriggerType.TraceOn,
        "traceoff" => TraceTriggerType.TraceOff,
        "snapshot" => TraceTriggerType.Snapshot,
        "stacktrace" => TraceTriggerType.StackTrace,
        "enable_event" => TraceTriggerType.EnableEvent,
        "disable_event" => TraceTriggerType.DisableEvent,
        "hist" => TraceTriggerType.Hist,
        "enable_hist" => TraceTriggerType.EnableHist,
        "disable_hist" => TraceTriggerType.DisableHist,
        _ => null,
    };

    private static readonly Regex CountRx = new(@"^(?:count=(?<n>\d+)|unlimited)$", RegexOptions.CultureInvariant);

    /// <summary>The triggers in one trigger file's text (comment lines skipped).</summary>
    public static List<TraceEventTrigger> Parse(string text, string instance, string system, string ev)
    {
        var list = new List<TraceEventTrigger>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            string? filter = null;
            int ifAt = line.IndexOf(" if ", StringComparison.Ordinal);
            var head = ifAt >= 0 ? line[..ifAt] : line;
            if (ifAt >= 0)
            {
                filter = line[(ifAt + 4)..].Trim();
                // A hist trigger's state follows its filter: "if pid == 1 [active]".
                int state = filter.LastIndexOf(" [", StringComparison.Ordinal);
                if (state >= 0 && filter.EndsWith(']')) filter = filter[..state];
            }
            var parts = head.Split(':');
            var type = FromKeyword(parts[0]);
            if (type is null) continue;
            long? count = null;
            string? target = null;
            if (type is TraceTriggerType.EnableEvent or TraceTriggerType.DisableEvent or TraceTriggerType.EnableHist or TraceTriggerType.DisableHist)
            {
                if (parts.Length >= 3) target = parts[1] + ":" + parts[2];
                if (parts.Length >= 4) count = ParseCount(parts[3]);
            }
            else if (type != TraceTriggerType.Hist && parts.Length >= 2) count = ParseCount(parts[1]);
            list.Add(new TraceEventTrigger
            {
                Instance = instance, System = system, Event = ev, Type = type.Value, Count = count, Filter = filter,
                TargetEvent = target, Definition = line,
            });
        }
        return list;
    }

    private static long? ParseCount(string s)
    {
        var m = CountRx.Match(s.Trim());
        return m.Success && m.Groups["n"].Success ? long.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture) : null;
    }

    /// <summary>The trigger commands this kernel offers (the trigger file's "# Available triggers:" line).</summary>
    public static IReadOnlyList<string> Available(string triggerFileText)
    {
        var lines = triggerFileText.Split('\n');
        for (int i = 0; i < lines.Length; i++)
            if (lines[i].StartsWith("# Available triggers:", StringComparison.Ordinal) && i + 1 < lines.Length)
                return lines[i + 1].TrimStart('#').Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return Array.Empty<string>();
    }

    /// <summary>The line to write: type[:target][:count] [if filter]. Validates the parts first.</summary>
    public static string Definition(TraceTriggerType type, long? count, string? filter, string? targetEvent)
    {
        if (type == TraceTriggerType.Hist)
            throw new KernelDebugException("Hist triggers are not made here: they have keys, values and actions of their own.", "TriggerTypeNotSupported", ErrorCategory.InvalidArgument);
        if (count is <= 0)
            throw new KernelDebugException($"A trigger count is 1 or more (it was {count}); omit it for a trigger that always fires.", "TriggerCountInvalid", ErrorCategory.InvalidArgument);
        bool needsTarget = type is TraceTriggerType.EnableEvent or TraceTriggerType.DisableEvent or TraceTriggerType.EnableHist or TraceTriggerType.DisableHist;
        var def = Keyword(type);
        if (needsTarget)
        {
            if (string.IsNullOrWhiteSpace(targetEvent))
                throw new KernelDebugException($"A {def} trigger names the event it switches (-TargetEvent system:event).", "TriggerTargetMissing", ErrorCategory.InvalidArgument);
            UserInput.EnsureSingleLine(targetEvent!, "TargetEvent");
            var t = targetEvent!.Split(':');
            if (t.Length != 2 || !Regex.IsMatch(t[0], "^[A-Za-z0-9_.-]+$") || !Regex.IsMatch(t[1], "^[A-Za-z0-9_.-]+$"))
                throw new KernelDebugException($"'{targetEvent}' is not a system:event name.", "TriggerTargetInvalid", ErrorCategory.InvalidArgument) { Target = targetEvent };
            def += ":" + targetEvent;
        }
        else if (!string.IsNullOrEmpty(targetEvent))
            throw new KernelDebugException($"Only enable_event/disable_event triggers take a target event; {def} does not.", "TriggerTargetInvalid", ErrorCategory.InvalidArgument);
        if (count is long n) def += ":" + n.ToString(CultureInfo.InvariantCulture);
        if (!string.IsNullOrWhiteSpace(filter))
        {
            UserInput.EnsureSingleLine(filter!, "Filter");
            def += " if " + filter!.Trim();
        }
        return def;
    }

    /// <summary>The removal command of a trigger: "!" and its type (and target); count and filter do not matter.</summary>
    public static string Removal(TraceTriggerType type, string? targetEvent) =>
        "!" + Keyword(type) + (targetEvent is null ? "" : ":" + targetEvent);

    public static string TriggerPath(FtraceInstance instance, string system, string ev) =>
        instance.FilePath(Path.Combine("events", system, ev, "trigger"));

    /// <summary>The triggers of the given events in an instance (events without a trigger file are skipped).</summary>
    public static List<TraceEventTrigger> List(FtraceInstance instance, IEnumerable<(string System, string Name)> events)
    {
        var list = new List<TraceEventTrigger>();
        foreach (var (system, name) in events)
        {
            var text = ControlFile.TryReadText(TriggerPath(instance, system, name), out _);
            if (text is not null) list.AddRange(Parse(text, instance.Name, system, name));
        }
        return list;
    }

    /// <summary>Adds a trigger: validated, one write, the kernel's reason on refusal. Returns it as the file lists it.</summary>
    public static TraceEventTrigger Add(FtraceInstance instance, (string System, string Name) e, TraceTriggerType type, long? count, string? filter, string? targetEvent)
    {
        if (instance.IsTopLevel)
            throw new KernelDebugException("Event triggers are set in an instance, not the shared top-level buffer (New-FtraceInstance makes one).",
                "TriggerOnTopLevel", ErrorCategory.InvalidOperation) { Target = instance.Name };
        var definition = Definition(type, count, filter, targetEvent);
        var path = TriggerPath(instance, e.System, e.Name);
        var current = ControlFile.TryReadText(path, out int errno);
        if (current is null)
            throw new KernelDebugException($"The event {e.System}:{e.Name} has no trigger file in {instance.Name} ({Errno.Name(errno)}).",
                "TriggerFileNotFound", errno is Errno.EACCES or Errno.EPERM ? ErrorCategory.PermissionDenied : ErrorCategory.ObjectNotFound) { Target = $"{e.System}:{e.Name}" };
        var available = Available(current);
        var keyword = Keyword(type);
        if (available.Count > 0 && !available.Contains(keyword))
            throw new KernelDebugException(
                $"This kernel has no {keyword} trigger (it offers {string.Join(", ", available)}). {MissingRemedy(type)}",
                "TriggerTypeNotAvailable", ErrorCategory.NotImplemented) { Target = keyword };
        if (targetEvent is not null)
        {
            var t = targetEvent.Split(':');
            if (!Directory.Exists(instance.FilePath(Path.Combine("events", t[0], t[1]))))
                throw new KernelDebugException($"The target event {targetEvent} does not exist.", "TraceEventNotFound", ErrorCategory.ObjectNotFound) { Target = targetEvent };
        }
        var existing = Parse(current, instance.Name, e.System, e.Name);
        var clash = existing.FirstOrDefault(x => SameKind(x.Type, type) && x.TargetEvent == targetEvent);
        if (clash is not null)
            throw new KernelDebugException(
                $"{e.System}:{e.Name} already has the trigger '{clash.Definition}' in {instance.Name}; an event has one {(type is TraceTriggerType.TraceOn or TraceTriggerType.TraceOff ? "traceon or traceoff" : keyword)} trigger{(targetEvent is null ? "" : " per target")} (Remove-TraceEventTrigger it first).",
                "TriggerExists", ErrorCategory.ResourceExists) { Target = clash.Definition };
        var errorLog = instance.FilePath("error_log");
        var before = ControlFile.TryReadText(errorLog, out _);
        try { ControlFile.Append(path, definition); }
        catch (KernelDebugException ex)
        {
            var after = ControlFile.TryReadText(errorLog, out _);
            // A refused filter logs "event filter parse error" with the filter as the command.
            var (message, position) = filter is null ? (null, null) : NewFilterError(before, after, filter.Trim());
            var caret = position is int p ? $"{Environment.NewLine}  {filter!.Trim()}{Environment.NewLine}  {new string(' ', p)}^" : "";
            throw new KernelDebugException(
                $"The kernel refused the trigger '{definition}' on {e.System}:{e.Name} ({Errno.Name(ex.Errno)}){(message is null ? "" : ": " + message)}{(position is int q ? $" (filter position {q})" : "")}.{caret}",
                message is null ? "TriggerRefusedByKernel" : "TriggerFilterInvalid", message is null ? ex.Category : ErrorCategory.InvalidArgument, ex)
            { Target = definition, Position = position };
        }
        Made[$"{path}|{Removal(type, targetEvent)}"] = (path, Removal(type, targetEvent));
        var now = Parse(ControlFile.ReadText(path), instance.Name, e.System, e.Name);
        return now.FirstOrDefault(x => x.Type == type && x.TargetEvent == targetEvent)
            ?? new TraceEventTrigger { Instance = instance.Name, System = e.System, Event = e.Name, Type = type, Count = count, Filter = filter, TargetEvent = targetEvent, Definition = definition };
    }

    /// <summary>Removes a trigger; false when it was not there.</summary>
    public static bool Remove(FtraceInstance instance, TraceEventTrigger trigger)
    {
        var path = TriggerPath(instance, trigger.System, trigger.Event);
        var removal = trigger.Type == TraceTriggerType.Hist ? "!" + trigger.Definition.Split(" [")[0] : Removal(trigger.Type, trigger.TargetEvent);
        var text = ControlFile.TryReadText(path, out _);
        if (text is null || !Parse(text, instance.Name, trigger.System, trigger.Event).Any(x => x.Type == trigger.Type && x.TargetEvent == trigger.TargetEvent))
            return false;
        ControlFile.Append(path, removal);
        Made.TryRemove($"{path}|{removal}", out _);
        return true;
    }

    // traceon and traceoff are one kind: the kernel keeps one of them per event.
    private static bool SameKind(TraceTriggerType a, TraceTriggerType b) =>
        a == b || (a is TraceTriggerType.TraceOn or TraceTriggerType.TraceOff && b is TraceTriggerType.TraceOn or TraceTriggerType.TraceOff);

    private static (string? Message, int? Position) NewFilterError(string? before, string? after, string filter)
    {
        if (after is null) return (null, null);
        // Only an entry new since the write is ours (error_log is shared and never cleared here).
        var fresh = before is not null && after.StartsWith(before, StringComparison.Ordinal) ? after[before.Length..] : after;
        return FilterError.ParseErrorLog(fresh, filter);
    }

    private static string MissingRemedy(TraceTriggerType t) => t switch
    {
        TraceTriggerType.Snapshot => "Snapshot triggers need a kernel built with CONFIG_TRACER_SNAPSHOT.",
        TraceTriggerType.StackTrace => "Stack trace triggers need CONFIG_STACKTRACE.",
        TraceTriggerType.EnableHist or TraceTriggerType.DisableHist => "Hist triggers need CONFIG_HIST_TRIGGERS.",
        _ => "Event triggers need CONFIG_EVENT_TRACING.",
    };
}
