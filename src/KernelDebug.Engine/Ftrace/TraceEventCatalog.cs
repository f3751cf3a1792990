using System.Collections.Concurrent;
using System.Management.Automation;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Ftrace;

/// <summary>
/// The trace events the kernel defines (tracefs events/&lt;system&gt;/&lt;event&gt;), their formats, and the id → format
/// map the ring-buffer decoder needs. Formats are the same in every instance, so they are read once from the top level.
/// Dynamic events (probes) appear and vanish at run time: a lookup miss rescans, at most twice a second.
/// </summary>
public static class TraceEventCatalog
{
    private static readonly ConcurrentDictionary<string, TraceEventFormat> ByName = new(StringComparer.Ordinal);
    private static volatile Dictionary<int, (string System, string Name)>? _ids;
    private static long _idsScannedAt;
    private static readonly object IdGate = new();

    public static string EventsDirectory => Path.Combine(KernelFileSystems.GetTraceFs(), "events");

    /// <summary>Every event as (system, name), sorted.</summary>
    public static IReadOnlyList<(string System, string Name)> List(string? eventsDirectory = null)
    {
        var dir = string.IsNullOrEmpty(eventsDirectory) ? EventsDirectory : eventsDirectory;
        var result = new List<(string, string)>();
        foreach (var sysDir in Directory.EnumerateDirectories(dir))
        {
            var system = Path.GetFileName(sysDir);
            // A probe group removed by another session while we list: nothing of it to add.
            try
            {
                foreach (var evDir in Directory.EnumerateDirectories(sysDir))
                    result.Add((system, Path.GetFileName(evDir)));
            }
            catch (DirectoryNotFoundException) { }
        }
        result.Sort((a, b) => string.CompareOrdinal(a.Item1 + ":" + a.Item2, b.Item1 + ":" + b.Item2));
        return result;
    }

    /// <summary>
    /// Events matching 'system:event' globs. A pattern without ':' matches an event name or a whole system
    /// (trace-cmd's -e sched / -e sched_switch). Wildcards are PowerShell's (* ? []).
    /// </summary>
    public static IReadOnlyList<(string System, string Name)> Match(IEnumerable<string> patterns, string? eventsDirectory = null)
    {
        var all = List(eventsDirectory);
        var found = new List<(string, string)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var raw in patterns)
        {
            var pattern = raw.Trim();
            UserInput.EnsureSingleLine(pattern, "Name");
            int colon = pattern.IndexOf(':');
            WildcardPattern sysPattern, evPattern;
            if (colon >= 0)
            {
                sysPattern = WildcardPattern.Get(pattern[..colon].Length == 0 ? "*" : pattern[..colon], WildcardOptions.IgnoreCase);
                evPattern = WildcardPattern.Get(pattern[(colon + 1)..].Length == 0 ? "*" : pattern[(colon + 1)..], WildcardOptions.IgnoreCase);
            }
            else
            {
                var p = WildcardPattern.Get(pattern, WildcardOptions.IgnoreCase);
                bool anySystem = all.Any(e => p.IsMatch(e.System));
                sysPattern = anySystem ? p : WildcardPattern.Get("*", WildcardOptions.None);
                evPattern = anySystem ? WildcardPattern.Get("*", WildcardOptions.None) : p;
            }
            foreach (var e in all)
                if (sysPattern.IsMatch(e.System) && evPattern.IsMatch(e.Name) && seen.Add(e.System + ":" + e.Name)) found.Add(e);
        }
        return found;
    }

    /// <summary>The parsed format of one event; throws ObjectNotFound when the kernel has no such event.</summary>
    public static TraceEventFormat GetFormat(string system, string name)
    {
        var key = system + ":" + name;
        if (ByName.TryGetValue(key, out var cached)) return cached;
        var path = Path.Combine(EventsDirectory, system, name, "format");
        var text = ControlFile.TryReadText(path, out int errno);
        if (text is null)
            throw new KernelDebugException($"The trace event {key} does not exist (reading {path}: {Errno.Name(errno)}).",
                "TraceEventNotFound", errno == Errno.EACCES || errno == Errno.EPERM ? ErrorCategory.PermissionDenied : ErrorCategory.ObjectNotFound) { Target = key };
        var format = TraceEventFormat.Parse(system, text);
        // A probe deleted and made again under the same name gets a new id: keep the newest.
        ByName[key] = format;
        return format;
    }

    /// <summary>The format of the event with this id (common_type), or null when the kernel has none.</summary>
    public static TraceEventFormat? GetFormat(int id)
    {
        var ids = _ids;
        if (ids is null || !ids.ContainsKey(id))
        {
            lock (IdGate)
            {
                ids = _ids;
                bool stale = Environment.TickCount64 - Interlocked.Read(ref _idsScannedAt) > 500;
                if (ids is null || (!ids.ContainsKey(id) && stale)) ids = ScanIds();
            }
        }
        if (!ids.TryGetValue(id, out var ev)) return null;
        var f = GetFormat(ev.System, ev.Name);
        if (f.Id != id)
        {
            // The event was made again with a new id since the format was cached.
            ByName.TryRemove(ev.System + ":" + ev.Name, out _);
            f = GetFormat(ev.System, ev.Name);
        }
        return f.Id == id ? f : null;
    }

    /// <summary>Forgets cached formats and ids (after probes were created or deleted).</summary>
    public static void Invalidate()
    {
        lock (IdGate) { _ids = null; }
        ByName.Clear();
    }

    private static Dictionary<int, (string, string)> ScanIds()
    {
        var map = new Dictionary<int, (string, string)>();
        var dir = EventsDirectory;
        foreach (var (system, name) in List(dir))
        {
            var text = ControlFile.TryReadText(Path.Combine(dir, system, name, "id"), out _);
            if (text is not null && int.TryParse(text.Trim(), out int id)) map[id] = (system, name);
        }
        // The ftrace system's internal events (function, funcgraph_*, print...) have a format but no id file.
        foreach (var (system, name) in List(dir).Where(e => e.System == "ftrace"))
        {
            if (map.ContainsValue((system, name))) continue;
            try { var f = GetFormat(system, name); if (f.Id != 0) map[f.Id] = (system, name); } catch (KernelDebugException) { }
        }
        Interlocked.Exchange(ref _idsScannedAt, Environment.TickCount64);
        _ids = map;
        return map;
    }
}
