using System.Globalization;
using System.Management.Automation;
using System.Runtime.InteropServices;
using KernelDebug.Bpf;
using KernelDebug.Native;

namespace KernelDebug.Syscall.Bpf;

/// <summary>
/// Which tasks a BPF syscall program counts (Programs/kd_target.h): a pid set kept in the kernel (forks followed on
/// sched_process_fork, a process leaving it when its last thread exits), every process but this one (-All), or a
/// cgroup v2 subtree (-CGroup). Sets an object's constants before load and fills its pid set after.
/// </summary>
public sealed class SyscallTargetFilter
{
    private const uint Cgroup2SuperMagic = 0x63677270;

    private SyscallTargetFilter(SyscallTargetKind kind) => Kind = kind;

    public SyscallTargetKind Kind { get; }
    /// <summary>Processes counted from the start (tgids).</summary>
    public IReadOnlyList<int> ProcessIds { get; private init; } = Array.Empty<int>();
    /// <summary>A launched command, stopped before its execve: it joins the set at that execve.</summary>
    public int LaunchProcessId { get; private init; }
    public bool FollowFork { get; private init; }
    public CGroupTarget? CGroup { get; private init; }

    public static SyscallTargetFilter ForProcesses(IEnumerable<int> processIds, bool followFork) =>
        new(SyscallTargetKind.Processes) { ProcessIds = processIds.Distinct().ToList(), FollowFork = followFork };

    public static SyscallTargetFilter ForLaunch(int launchedProcessId, bool followFork) =>
        new(SyscallTargetKind.Processes) { LaunchProcessId = launchedProcessId, FollowFork = followFork };

    public static SyscallTargetFilter ForAll() => new(SyscallTargetKind.All);

    public static SyscallTargetFilter ForCGroup(string path) => new(SyscallTargetKind.CGroup) { CGroup = ResolveCGroup(path) };

    /// <summary>The process a thread id belongs to (its tgid); ObjectNotFound when there is none.</summary>
    public static int ResolveProcess(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("Tgid:", StringComparison.Ordinal)) return int.Parse(line.AsSpan(5).Trim(), CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        throw new KernelDebugException($"There is no process with id {pid}.", "ProcessNotFound", ErrorCategory.ObjectNotFound) { Target = pid.ToString(CultureInfo.InvariantCulture) };
    }

    /// <summary>
    /// A cgroup v2 directory: an absolute path on a cgroup2 mount (/sys/fs/cgroup/..., /sys/fs/cgroup/unified/...), or a
    /// cgroup path as /proc/PID/cgroup shows it (/system.slice/ssh.service) under this host's cgroup2 mount.
    /// </summary>
    public static CGroupTarget ResolveCGroup(string path)
    {
        if (string.IsNullOrEmpty(path) || path.Any(char.IsControl))
            throw new KernelDebugException("A cgroup path must be non-empty and contain no control characters.", "CGroupPathInvalid", ErrorCategory.InvalidArgument) { Target = path };
        var mounts = ReadMounts();
        var v2 = mounts.Where(m => m.Type == "cgroup2").ToList();
        // A directory on a cgroup2 mount as given; else the cgroup path under the cgroup2 mount (/ is its root, not
        // the host's); else a directory that exists but is no cgroup v2, refused below.
        string? full = null;
        if (Directory.Exists(path) && MountOf(mounts, Canonical(path))?.Type == "cgroup2") full = path;
        else if (v2.Count > 0 && path.StartsWith('/') && Directory.Exists(System.IO.Path.Join(v2[0].MountPoint, path.TrimStart('/'))))
            full = System.IO.Path.Join(v2[0].MountPoint, path.TrimStart('/'));
        else if (Directory.Exists(path)) full = path;
        if (full is null)
            throw new KernelDebugException(
                $"The cgroup '{path}' does not exist{(v2.Count > 0 ? $" (as a directory, nor under the cgroup v2 mount {v2[0].MountPoint})" : "")}.",
                "CGroupNotFound", ErrorCategory.ObjectNotFound) { Target = path };
        full = Canonical(full);
        var mount = MountOf(mounts, full);
        if (mount is null || mount.Type != "cgroup2")
        {
            string what = mount?.Type == "cgroup" ? $"a directory of a cgroup v1 hierarchy ({mount.Options})" : $"not in a cgroup file system ({mount?.Type ?? "unknown"})";
            throw new KernelDebugException(
                $"'{path}' is {what}; -CGroup needs a cgroup v2 directory{(v2.Count > 0 ? $" (this host's cgroup v2 hierarchy is mounted at {v2[0].MountPoint})" : " and this host has no cgroup v2 mount")}.",
                "CGroupNotVersion2", ErrorCategory.InvalidArgument)
            { Target = path, Remedy = v2.Count > 0 ? $"Give the cgroup's directory under {v2[0].MountPoint}." : "Mount cgroup v2 (mount -t cgroup2 none /sys/fs/cgroup/unified), or boot with systemd.unified_cgroup_hierarchy=1." };
        }
        ulong id = Interop.LStatInode(full) ?? throw new KernelDebugException(Errno.Last, "statx", full);
        // The depth below the hierarchy's root: the mount's own root (a container sees a subtree) plus the path below the mount.
        int level = Depth(mount.Root) + Depth(full[mount.MountPoint.TrimEnd('/').Length..]);
        return new CGroupTarget(full, id, level);
    }

    private static int Depth(string p) => p.Split('/', StringSplitOptions.RemoveEmptyEntries).Length;

    private static bool IsUnder(string path, string mountPoint) =>
        mountPoint == "/" || path == mountPoint || path.StartsWith(mountPoint.TrimEnd('/') + "/", StringComparison.Ordinal);

    // The mount a path is on: the longest mount point above it, the last one mounted there (it hides the others).
    private static Mount? MountOf(List<Mount> mounts, string full)
    {
        var above = mounts.Where(m => IsUnder(full, m.MountPoint)).ToList();
        if (above.Count == 0) return null;
        int longest = above.Max(m => m.MountPoint.Length);
        return above.Last(m => m.MountPoint.Length == longest);
    }

    private static string Canonical(string path)
    {
        var full = ResolveLinks(System.IO.Path.GetFullPath(path)).TrimEnd('/');
        return full.Length == 0 ? "/" : full;
    }

    private static string ResolveLinks(string full)
    {
        try { return new DirectoryInfo(full).ResolveLinkTarget(true)?.FullName ?? full; }
        catch (IOException) { return full; }
    }

    private sealed record Mount(string Root, string MountPoint, string Type, string Options);

    private static List<Mount> ReadMounts()
    {
        var list = new List<Mount>();
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            int sep = line.IndexOf(" - ", StringComparison.Ordinal);
            if (sep < 0) continue;
            var head = line[..sep].Split(' ');
            var tail = line[(sep + 3)..].Split(' ');
            if (head.Length < 5 || tail.Length < 1) continue;
            list.Add(new Mount(Host.MountTable.Unescape(head[3]), Host.MountTable.Unescape(head[4]), tail[0], tail.Length > 2 ? tail[2] : ""));
        }
        return list;
    }

    /// <summary>The object's kd_target.h constants (before load).</summary>
    public void Configure(BpfObjectSpec spec)
    {
        spec.SetConstant("kd_target_mode", (uint)Kind);
        spec.SetConstant("kd_self_tgid", (uint)Environment.ProcessId);
        spec.SetConstant("kd_follow_fork", (byte)(FollowFork ? 1 : 0));
        if (LaunchProcessId != 0)
        {
            spec.SetConstant("kd_launch_tgid", (uint)LaunchProcessId);
            spec.SetConstant("kd_execve_nr", (long)SyscallTable.ByName("execve")!.NumberFor(RuntimeInformation.ProcessArchitecture));
        }
        if (CGroup is { } cg)
        {
            spec.SetConstant("kd_cgroup_id", cg.Id);
            spec.SetConstant("kd_cgroup_level", (uint)cg.Level);
        }
    }

    /// <summary>Puts the target processes in the loaded object's pid set (before its programs are attached).</summary>
    public void Populate(BpfObject obj)
    {
        if (Kind != SyscallTargetKind.Processes) return;
        var map = obj.Map("kd_pids");
        foreach (var pid in ProcessIds) BpfMapAccess.Update(map, BitConverter.GetBytes((uint)pid), new byte[] { 1 });
    }

    /// <summary>
    /// Whether any target process is left (pid targets only; -All and -CGroup run until stopped). Entries of processes
    /// gone from /proc are dropped: the kernel removes them at exit, this only covers an exit it could not see.
    /// </summary>
    public bool AnyAlive(BpfObject obj)
    {
        if (Kind != SyscallTargetKind.Processes) return true;
        var map = obj.Map("kd_pids");
        bool any = false;
        foreach (var key in BpfMapAccess.Keys(map, 4).ToList())
        {
            uint tgid = BitConverter.ToUInt32(key);
            if (Directory.Exists($"/proc/{tgid}")) any = true;
            else BpfMapAccess.Delete(map, key);
        }
        return any;
    }
}
