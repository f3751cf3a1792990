using System.Globalization;
using KernelDebug.Ftrace;
using KernelDebug.Native;
using KernelDebug.Probes;

namespace KernelDebug.Host;

/// <summary>
/// Removes what a session killed before its cleanup ran (SIGKILL, OOM) left in tracefs: instances kerneldebug_&lt;pid&gt;_&lt;n&gt;
/// and probes of group kerneldebug_&lt;pid&gt; whose process is gone. Cheap enough for the start of every cmdlet that makes
/// such objects: one readdir of instances/ and one read of dynamic_events (or of uprobe_events and kprobe_events).
/// An owner counts as gone only when this process sees every pid (the initial pid namespace), no process has that
/// number as its pid inside a nested pid namespace, and the pid is either unused or taken by a process started after
/// the object was made. Anything less certain is left alone.
/// </summary>
public static class OrphanSweep
{
    // PROC_PID_INIT_INO (include/linux/proc_ns.h): the inode of the initial pid namespace.
    private const string InitialPidNamespace = "pid:[4026531836]";
    private const long ClockTicksPerSecond = 100; // USER_HZ, what /proc/<pid>/stat counts in
    private static readonly TimeSpan StartTimeSlack = TimeSpan.FromSeconds(2);

    /// <summary>Sweeps; each removal (and a skipped sweep) is described through <paramref name="log"/>. Returns the number of objects removed.</summary>
    public static int Run(Action<string>? log = null, string? traceFs = null)
    {
        // PowerShell passes $null for a string as "": both mean "find tracefs" (a relative "" path made every probe
        // removal fail with ENOENT, silently, in the torture suite's sweeps).
        if (string.IsNullOrEmpty(traceFs)) traceFs = KernelFileSystems.GetTraceFs(log);
        // Settings of shared instances that a killed recording left changed (their lock is free again).
        int removed = InstanceLock.SweepLeftovers(log);
        DynamicEvents? events = null;
        foreach (var o in Find(traceFs, log))
        {
            try
            {
                // Remove() stops tracing and disables its events before the rmdir.
                if (o.Probe is null) FtraceInstance.Get(o.Name).Remove();
                else (events ??= new DynamicEvents(traceFs)).Remove(o.Probe, force: true);
                removed++;
                log?.Invoke($"Removed the {o.Kind} {o.Name} left by process {o.OwnerProcessId}, {o.Why}.");
            }
            catch (KernelDebugException e) when (e.Category == System.Management.Automation.ErrorCategory.ObjectNotFound) { }
            catch (KernelDebugException e) { log?.Invoke($"Could not remove the orphaned {o.Kind} {o.Name}: {e.Message}"); }
        }
        return removed;
    }

    /// <summary>One kerneldebug object whose owner is certainly gone.</summary>
    public sealed record Orphan(string Kind, string Name, int OwnerProcessId, string Why, ProbeDefinition? Probe);

    /// <summary>
    /// The instances and probes whose owner is certainly gone, without touching them (the health check reports them;
    /// Run removes them). Empty outside the initial pid namespace, where that cannot be known.
    /// </summary>
    public static IReadOnlyList<Orphan> Find(string? traceFs = null, Action<string>? log = null)
    {
        // PowerShell passes $null to a string parameter as "".
        if (string.IsNullOrEmpty(traceFs)) traceFs = KernelFileSystems.GetTraceFs(log);
        var instances = Candidates(traceFs);
        var probes = ProbeCandidates(traceFs);
        var found = new List<Orphan>();
        if (instances.Count == 0 && probes.Count == 0) return found;
        if (ReadLink("/proc/self/ns/pid") != InitialPidNamespace)
        {
            log?.Invoke("Left kerneldebug objects of other pids alone: outside the initial pid namespace, a missing /proc/<pid> does not mean the owner is gone.");
            return found;
        }
        var nested = new Lazy<HashSet<int>>(NestedNamespacePids);
        foreach (var (name, pid) in instances)
            if (WhyGone(pid, CreatedAt(Path.Combine(traceFs, "instances", name)), nested) is { } why)
                found.Add(new Orphan("instance", name, pid, why, null));
        foreach (var (probe, pid) in probes)
            if (WhyGone(pid, CreatedAt(Path.Combine(traceFs, "events", probe.Group, probe.Name)), nested) is { } why)
                found.Add(new Orphan("probe", $"{probe.Group}/{probe.Name}", pid, why, probe));
        return found;
    }

    /// <summary>Instances named kerneldebug_&lt;pid&gt;_&lt;n&gt; of other pids.</summary>
    private static List<(string Name, int Pid)> Candidates(string traceFs)
    {
        var list = new List<(string, int)>();
        var dir = Path.Combine(traceFs, "instances");
        if (!Directory.Exists(dir)) return list;
        foreach (var d in Directory.EnumerateDirectories(dir))
        {
            var name = Path.GetFileName(d);
            if (System.Text.RegularExpressions.Regex.IsMatch(name, $"^{Naming.Prefix}_[0-9]+_[0-9]+$") &&
                Naming.OwnerProcessId(name) is { } pid && pid != Naming.ProcessId) list.Add((name, pid));
        }
        return list;
    }

    /// <summary>Probes of group kerneldebug_&lt;pid&gt; (not the persistent group kerneldebug) of other pids.</summary>
    private static List<(ProbeDefinition Probe, int Pid)> ProbeCandidates(string traceFs)
    {
        var list = new List<(ProbeDefinition, int)>();
        // dynamic_events lists every kind; without it (CONFIG_DYNAMIC_EVENTS off) each kind has its own file.
        var files = File.Exists(Path.Combine(traceFs, "dynamic_events")) ? new[] { "dynamic_events" } : new[] { "uprobe_events", "kprobe_events" };
        foreach (var file in files)
        {
            var text = ControlFile.TryReadText(Path.Combine(traceFs, file), out _);
            if (string.IsNullOrEmpty(text)) continue;
            foreach (var p in ProbeListParser.ParseList(text, file))
                if (Naming.OwnerProcessId(p.Group) is { } pid && pid != Naming.ProcessId && p.Group == $"{Naming.Prefix}_{pid}") list.Add((p, pid));
        }
        return list;
    }

    /// <summary>Why the owner is certainly gone, or null when it may live.</summary>
    private static string? WhyGone(int pid, DateTime? created, Lazy<HashSet<int>> nested)
    {
        var stat = ControlFile.TryReadText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat", out _);
        if (stat is null) return nested.Value.Contains(pid) ? null : "which is gone";
        // The pid is in use: by the owner, unless that process started after the object was made (the pid was reused).
        return created is { } c && StartTime(stat) is { } started && started > c + StartTimeSlack
            ? "whose pid now belongs to a process started after it was made" : null;
    }

    /// <summary>Pids that processes have inside nested pid namespaces (the last NSpid field when there are several).</summary>
    private static HashSet<int> NestedNamespacePids()
    {
        var set = new HashSet<int>();
        foreach (var d in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out _)) continue;
            var status = ControlFile.TryReadText(Path.Combine(d, "status"), out _);
            var line = status?.Split('\n').FirstOrDefault(l => l.StartsWith("NSpid:", StringComparison.Ordinal));
            var fields = line?[6..].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields is { Length: > 1 } && int.TryParse(fields[^1], NumberStyles.None, CultureInfo.InvariantCulture, out var inner)) set.Add(inner);
        }
        return set;
    }

    /// <summary>When a process started (field 22 of /proc/&lt;pid&gt;/stat, clock ticks after boot), in UTC.</summary>
    internal static DateTime? StartTime(string stat)
    {
        // The comm (field 2) may hold spaces and parentheses: count fields after its closing parenthesis.
        int close = stat.LastIndexOf(')');
        if (close < 0) return null;
        var fields = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 20 || !long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)) return null;
        return BootTime() is { } boot ? boot.AddSeconds((double)ticks / ClockTicksPerSecond) : null;
    }

    private static DateTime? BootTime()
    {
        var text = ControlFile.TryReadText("/proc/stat", out _);
        var line = text?.Split('\n').FirstOrDefault(l => l.StartsWith("btime ", StringComparison.Ordinal));
        return line is not null && long.TryParse(line[6..].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var s)
            ? DateTime.UnixEpoch.AddSeconds(s) : null;
    }

    /// <summary>tracefs stamps a directory with the time it was made.</summary>
    private static DateTime? CreatedAt(string path)
    {
        try { return Directory.Exists(path) ? Directory.GetLastWriteTimeUtc(path) : null; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    private static string? ReadLink(string path)
    {
        try { return new FileInfo(path).LinkTarget; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
