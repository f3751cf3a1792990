using System.Collections.Concurrent;
using KernelDebug.Native;

namespace KernelDebug.Host;

/// <summary>Finds tracefs and debugfs through mountinfo (checking the type), mounting them as root when absent, as trace-cmd does.</summary>
public static class KernelFileSystems
{
    public const string DefaultTraceFsPath = "/sys/kernel/tracing";
    public const string DefaultDebugFsPath = "/sys/kernel/debug";

    private static readonly object Gate = new();
    private static string? _traceFs;
    private static string? _debugFs;

    // Mounts made for a caller that passed no logger (the ftrace engine, perf's tracepoint lookup, parameter binding),
    // kept until a cmdlet reports them with -Verbose (ReportMounts in the cmdlet layer) or a logger is next passed here.
    private static readonly ConcurrentQueue<string> UnreportedMounts = new();
    private const int MaxUnreportedMounts = 16;

    /// <summary>Takes the oldest mount notice that no logger has received yet.</summary>
    public static bool TryTakeUnreportedMount(out string notice) => UnreportedMounts.TryDequeue(out notice!);

    /// <summary>Where tracefs is mounted. Mounts it at /sys/kernel/tracing when running as root and it is not mounted.</summary>
    /// <param name="log">Receives a sentence when something was mounted (for -Verbose).</param>
    public static string GetTraceFs(Action<string>? log = null) =>
        Locate(ref _traceFs, "tracefs", DefaultTraceFsPath, log,
            "the tracefs file system is not mounted",
            "Run as root once (the module then mounts it), or: mount -t tracefs nodev /sys/kernel/tracing");

    /// <summary>Where debugfs is mounted; mounted at /sys/kernel/debug as root when absent.</summary>
    public static string GetDebugFs(Action<string>? log = null) =>
        Locate(ref _debugFs, "debugfs", DefaultDebugFsPath, log,
            "the debugfs file system is not mounted",
            "Run as root once (the module then mounts it), or: mount -t debugfs nodev /sys/kernel/debug");

    /// <summary>The mount point without mounting anything; null when not mounted.</summary>
    public static string? FindMounted(string fileSystemType) => MountTable.Find(fileSystemType);

    /// <summary>True when the running kernel knows the file-system type (/proc/filesystems).</summary>
    public static bool IsSupported(string fileSystemType) =>
        File.Exists("/proc/filesystems") &&
        File.ReadLines("/proc/filesystems").Any(l => l.Split('\t', ' ').LastOrDefault() == fileSystemType);

    public static bool IsRoot => Interop.geteuid() == 0;

    private static string Locate(ref string? cache, string type, string defaultPath, Action<string>? log, string missing, string remedy)
    {
        lock (Gate)
        {
            if (log is not null) while (UnreportedMounts.TryDequeue(out var earlier)) log(earlier);
            if (cache is not null && Directory.Exists(cache) && MountTable.Find(type) is not null) return cache;
            var mounted = MountTable.Find(type);
            if (mounted is not null) return cache = mounted;

            if (!IsSupported(type))
                throw new KernelDebugException($"The kernel does not support {type}: it is not listed in /proc/filesystems.",
                    $"{type}NotSupported", System.Management.Automation.ErrorCategory.NotInstalled)
                { Remedy = $"Boot a kernel built with {(type == "tracefs" ? "CONFIG_TRACING" : "CONFIG_DEBUG_FS")}." };
            if (!IsRoot)
                throw new KernelDebugException($"{char.ToUpperInvariant(missing[0])}{missing[1..]}, and only root can mount it.",
                    $"{type}NotMounted", System.Management.Automation.ErrorCategory.PermissionDenied) { Remedy = remedy };

            Interop.Check(Interop.mount("nodev", defaultPath, type, 0, 0), $"mount {type}", defaultPath);
            var notice = $"Mounted {type} at {defaultPath} (it was not mounted).";
            if (log is not null) log(notice);
            else if (UnreportedMounts.Count < MaxUnreportedMounts) UnreportedMounts.Enqueue(notice);
            return cache = defaultPath;
        }
    }
}
