using System.Globalization;
using System.Management.Automation;
using System.Text;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Ftrace;

/// <summary>
/// One session at a time in a shared instance (the top level, or one the user made): an exclusive flock(2) on the
/// instance's tracefs directory, held while a recording or a stream uses it. Two readers of one trace_pipe_raw split
/// the records between them, and two recordings undo each other's settings, so the second is refused (ResourceBusy,
/// naming the holder's pid from /proc/locks). The lock is advisory and the kernel drops it when the holder dies; what
/// the holder changed is kept in a state file (see <see cref="StateDirectory"/>) until it has put it back, so the
/// next session that takes the lock, or the orphan sweep, puts back the settings a killed session left.
/// </summary>
public sealed class InstanceLock : IDisposable
{
    /// <summary>Where saved settings of shared instances wait until their recording ends (root only: 0700).</summary>
    public const string StateDirectory = "/run/kerneldebug";

    private readonly SafeFileDescriptor _fd;

    private InstanceLock(FtraceInstance instance, SafeFileDescriptor fd)
    {
        Instance = instance;
        _fd = fd;
    }

    public FtraceInstance Instance { get; }

    /// <summary>The file that holds this instance's saved settings while a recording has them changed.</summary>
    public string StatePath => StatePathOf(Instance.Name);

    /// <summary>
    /// Takes the instance's lock or throws FtraceInstanceBusy. A state file that a dead holder left is put back first
    /// (each step described through <paramref name="log"/>).
    /// </summary>
    public static InstanceLock Acquire(FtraceInstance instance, Action<string>? log = null)
    {
        var l = TryAcquire(instance, out int holder);
        if (l is null)
        {
            var who = holder > 0 ? $"process {holder.ToString(CultureInfo.InvariantCulture)}{CommOf(holder)}" : "another process";
            throw new KernelDebugException(
                $"The tracefs instance {instance.Name} is in use by {who}, which is recording in it or reading its buffer: two sessions at once would split its records between them and undo each other's settings.",
                "FtraceInstanceBusy", ErrorCategory.ResourceBusy)
            {
                Target = instance.Name,
                Remedy = "Wait until that session ends, or record in a private instance (leave out -Instance) or in an instance of your own (New-FtraceInstance).",
            };
        }
        try { l.RestoreLeftover(log); }
        catch { l.Dispose(); throw; }
        return l;
    }

    /// <summary>The lock, or null with the holder's pid (0 when unknown) when another open file holds it.</summary>
    public static InstanceLock? TryAcquire(FtraceInstance instance, out int holder)
    {
        holder = 0;
        var fd = Interop.Open(instance.Path, Interop.O_RDONLY);
        if (Interop.flock(fd, Interop.LOCK_EX | Interop.LOCK_NB) == 0) return new InstanceLock(instance, fd);
        int errno = Errno.Last;
        try
        {
            if (errno != Errno.EAGAIN) throw new KernelDebugException(errno, "flock", instance.Path);
            holder = Holder(fd) ?? 0;
            return null;
        }
        finally { fd.Dispose(); }
    }

    /// <summary>The pid of the process holding a flock on the file (from /proc/locks), or null.</summary>
    private static int? Holder(SafeFileDescriptor fd)
    {
        if (Interop.FStatDevice(fd) is not { } id) return null;
        var key = string.Create(CultureInfo.InvariantCulture, $"{id.Major:x2}:{id.Minor:x2}:{id.Inode}");
        var text = ControlFile.TryReadText("/proc/locks", out _);
        if (text is null) return null;
        foreach (var line in text.Split('\n'))
        {
            // "1: FLOCK  ADVISORY  WRITE 6709 00:0d:1761169 0 EOF"; blocked waiters have "->" after the number.
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 6 || f[1] != "FLOCK") continue;
            if (string.Equals(f[5], key, StringComparison.OrdinalIgnoreCase) && int.TryParse(f[4], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0)
                return pid;
        }
        return null;
    }

    private static string CommOf(int pid) =>
        ControlFile.TryReadText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/comm", out _)?.Trim() is { Length: > 0 } comm ? $" ({comm})" : "";

    /// <summary>Puts back what a session that held this lock and died left changed (its state file), then removes the file.</summary>
    private void RestoreLeftover(Action<string>? log)
    {
        if (InstanceSettings.Load(Instance, StatePath) is not { } left) return;
        try
        {
            left.Settings.Dispose();
            log?.Invoke($"Put back the settings of {Instance.Name} that process {left.ProcessId} changed and could not restore (it ended first).");
        }
        finally { TryDelete(StatePath); }
    }

    /// <summary>
    /// The orphan sweep's part: state files of shared instances whose holder is gone (their lock is free) are put back
    /// and removed; a state file of a removed instance is just removed. Returns how many were handled.
    /// </summary>
    public static int SweepLeftovers(Action<string>? log = null)
    {
        if (!Directory.Exists(StateDirectory) || !IsPrivateDirectory(StateDirectory)) return 0;
        int n = 0;
        foreach (var file in Directory.EnumerateFiles(StateDirectory, "instance.*.json"))
        {
            var name = NameOf(Path.GetFileName(file));
            if (name is null) continue;
            FtraceInstance instance;
            try { instance = FtraceInstance.Get(name); }
            catch (KernelDebugException e) when (e.Category == ErrorCategory.ObjectNotFound) { TryDelete(file); n++; continue; }
            catch (KernelDebugException) { continue; }
            InstanceLock? l;
            try { l = TryAcquire(instance, out _); }
            catch (KernelDebugException) { continue; }
            if (l is null) continue; // its holder still runs
            try
            {
                l.RestoreLeftover(log);
                n++;
            }
            catch (KernelDebugException e) { log?.Invoke($"Could not put back the settings of {name}: {e.Message}"); }
            finally { l.Dispose(); }
        }
        return n;
    }

    // ---- state files ----

    /// <summary>instance.&lt;name&gt;.json, the name with every byte outside [A-Za-z0-9_.-] as %XX ("/" is %2F).</summary>
    public static string StatePathOf(string instanceName)
    {
        var sb = new StringBuilder("instance.");
        foreach (var b in Encoding.UTF8.GetBytes(instanceName))
        {
            char c = (char)b;
            if (c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '_' or '-' or '.' && b < 0x80) sb.Append(c);
            else sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return Path.Combine(StateDirectory, sb.Append(".json").ToString());
    }

    internal static string? NameOf(string fileName)
    {
        if (!fileName.StartsWith("instance.", StringComparison.Ordinal) || !fileName.EndsWith(".json", StringComparison.Ordinal)) return null;
        var encoded = fileName["instance.".Length..^".json".Length];
        var bytes = new List<byte>();
        for (int i = 0; i < encoded.Length; i++)
        {
            if (encoded[i] == '%' && i + 2 < encoded.Length &&
                byte.TryParse(encoded.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var b)) { bytes.Add(b); i += 2; }
            else bytes.Add((byte)encoded[i]);
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>Makes the state directory (0700) or checks that it is a directory of this user that nobody else may write.</summary>
    internal static void EnsureStateDirectory()
    {
        if (!Directory.Exists(StateDirectory))
        {
            int r = Interop.mkdir(StateDirectory, 0x1C0 /* 0700 */);
            if (r < 0 && Errno.Last != Errno.EEXIST) throw new KernelDebugException(Errno.Last, "mkdir", StateDirectory);
        }
        if (!IsPrivateDirectory(StateDirectory))
            throw new KernelDebugException($"{StateDirectory} is not a directory of this user closed to others; the saved settings of shared instances are kept there. Remove it.",
                "StateDirectoryForeign", ErrorCategory.SecurityError) { Target = StateDirectory };
    }

    private static bool IsPrivateDirectory(string path)
    {
        var info = new DirectoryInfo(path);
        if (info.LinkTarget is not null) return false;
        using var fd = Interop.TryOpen(path, Interop.O_RDONLY | Interop.O_NOFOLLOW, out _);
        if (fd is null || Interop.FStat(fd, out _) is not { } st) return false;
        return (st.Mode & Interop.S_IFMT) == Interop.S_IFDIR && st.Uid == Interop.geteuid() && (st.Mode & 0x12 /* go-w */) == 0;
    }

    internal static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    public void Dispose() => _fd.Dispose();
}
