namespace KernelDebug.Host;

/// <summary>
/// Names of what the module creates in the kernel. Everything carries the "kerneldebug" prefix; things made for the
/// span of one call also carry the owning pid, so the leak guard and cleanup can tell a live session's objects from leaks.
/// </summary>
public static class Naming
{
    public const string Prefix = "kerneldebug";

    private static int _counter;

    public static int ProcessId { get; } = Environment.ProcessId;

    /// <summary>A fresh private tracefs instance name: kerneldebug_&lt;pid&gt;_&lt;n&gt;.</summary>
    public static string NewInstanceName() => $"{Prefix}_{ProcessId}_{NextSequence()}";

    /// <summary>A number unique in this process: runspaces of one process (thread jobs, ForEach-Object -Parallel) share its pid.</summary>
    public static int NextSequence() => Interlocked.Increment(ref _counter);

    /// <summary>The probe group for probes that live only as long as one call of this process: kerneldebug_&lt;pid&gt;.</summary>
    public static string ProcessGroup => $"{Prefix}_{ProcessId}";

    /// <summary>The default group of persistent probes made by New-*probe: kerneldebug.</summary>
    public static string DefaultGroup => Prefix;

    /// <summary>True for names the module made (the prefix, optionally followed by _suffix).</summary>
    public static bool IsOwned(string name) =>
        name == Prefix || name.StartsWith(Prefix + "_", StringComparison.Ordinal);

    /// <summary>The pid embedded in kerneldebug_&lt;pid&gt;[_n], or null.</summary>
    public static int? OwnerProcessId(string name)
    {
        if (!name.StartsWith(Prefix + "_", StringComparison.Ordinal)) return null;
        var rest = name[(Prefix.Length + 1)..];
        int end = rest.IndexOf('_');
        return int.TryParse(end < 0 ? rest : rest[..end], out var pid) ? pid : null;
    }
}
