using System.Globalization;
using System.Management.Automation;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Memory;

/// <summary>The kmemleak debugfs file: reading the suspects and writing its commands (scan, clear, scan=, stack=, off).</summary>
public static class Kmemleak
{
    /// <summary>
    /// The path of the kmemleak file, in the debugfs this system has mounted (mounted as root when absent).
    /// Throws with what is missing and how to get it when kmemleak is not there.
    /// </summary>
    public static string ControlFilePath(Action<string>? log = null)
    {
        string debugFs;
        try { debugFs = KernelFileSystems.GetDebugFs(log); }
        catch (KernelDebugException e)
        {
            throw new KernelDebugException($"kmemleak is not available: {e.Message}", "KmemleakNotAvailable", ErrorCategory.NotInstalled, e) { Remedy = e.Remedy };
        }
        var path = Path.Combine(debugFs, "kmemleak");
        if (!File.Exists(path))
        {
            var cap = CapabilityProbe.Run(new[] { "Kmemleak" }).First();
            throw new KernelDebugException($"kmemleak is not available: {cap.Detail}.", "KmemleakNotAvailable", ErrorCategory.NotInstalled)
            { Remedy = cap.Remedy, Target = path };
        }
        return path;
    }

    /// <summary>The current suspects (reading the file does not scan).</summary>
    public static List<KmemleakObject> Read(string path)
    {
        string text;
        try { text = ControlFile.ReadText(path); }
        catch (KernelDebugException e) when (e.Errno is Errno.EPERM or Errno.EBUSY or Errno.EINVAL && KernelFileSystems.IsRoot)
        {
            throw new KernelDebugException($"Reading {path} failed ({e.ErrnoName}): kmemleak was disabled at boot (kmemleak=off) or after an internal error.",
                "KmemleakDisabled", ErrorCategory.ResourceUnavailable, e) { Remedy = "Boot with kmemleak=on; once disabled, kmemleak stays off until reboot.", Target = path };
        }
        var lines = text.Split('\n').Select((l, i) => new KernelLogEntry { Message = l, Source = path, LineNumber = i + 1 });
        var clock = JiffiesClock.TryCreate();
        return KmemleakParser.Parse(lines, clock is null ? null : clock.AgeOf).ToList();
    }

    /// <summary>Writes one command ("scan", "clear", "scan=60", "stack=on", "off"). "scan" returns when the scan is done.</summary>
    public static void Command(string path, string command) => ControlFile.Append(path, command);
}

/// <summary>The kernel's jiffies now (from /proc/timer_list) and HZ (from the kernel configuration), to date kmemleak objects.</summary>
public sealed class JiffiesClock
{
    private readonly ulong _now;
    private readonly int _hz;

    private JiffiesClock(ulong now, int hz) { _now = now; _hz = hz; }

    public static JiffiesClock? TryCreate()
    {
        var hzText = KernelConfig.Load()?["CONFIG_HZ"];
        if (!int.TryParse(hzText, NumberStyles.Integer, CultureInfo.InvariantCulture, out int hz) || hz <= 0) return null;
        var now = ReadJiffies();
        return now is null ? null : new JiffiesClock(now.Value, hz);
    }

    /// <summary>The "jiffies:" value of /proc/timer_list (root only); null when unreadable.</summary>
    public static ulong? ReadJiffies()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/timer_list"))
            {
                var t = line.Trim();
                if (t.StartsWith("jiffies:", StringComparison.Ordinal) &&
                    ulong.TryParse(t["jiffies:".Length..].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var j))
                    return j;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return null;
    }

    public TimeSpan? AgeOf(ulong jiffies) => jiffies > _now ? null : TimeSpan.FromSeconds((double)(_now - jiffies) / _hz);
}
