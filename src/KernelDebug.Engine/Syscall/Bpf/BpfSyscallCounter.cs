using System.Buffers.Binary;
using KernelDebug.Bpf;
using KernelDebug.Native;

namespace KernelDebug.Syscall.Bpf;

/// <summary>
/// Measure-Syscall's BPF engine: loads kd_syscount (strace -c in the kernel, per-CPU sums per syscall number) for a
/// target, attaches it to raw_syscalls sys_enter/sys_exit and the fork/exit tracepoints, and reads the sums. No record
/// per call crosses to user space. Dispose detaches and closes everything.
/// </summary>
public sealed class BpfSyscallCounter : IDisposable
{
    private const int MaxSyscalls = 1024, CountSize = 24;
    private readonly SyscallTargetFilter _target;
    private readonly BpfObject _object;
    private readonly int _cpus = BpfMapReader.PossibleCpus();
    private bool _attached;

    public BpfSyscallCounter(SyscallTargetFilter target)
    {
        _target = target;
        var spec = BpfObjectSpec.BuiltIn("kd_syscount");
        target.Configure(spec);
        _object = BpfObject.Load(spec);
        try { target.Populate(_object); }
        catch
        {
            _object.Dispose();
            throw;
        }
    }

    public SyscallTargetFilter Target => _target;

    /// <summary>Attaches: fork and exit tracking first, so no process of the set is missed between the two.</summary>
    public void Start()
    {
        foreach (var name in new[] { "kd_target_fork", "kd_target_exit", "kd_sys_exit", "kd_sys_enter" })
            BpfAttacher.Attach(_object.Program(name));
        _attached = true;
    }

    /// <summary>Detaches the programs; the sums stay readable.</summary>
    public void Stop()
    {
        if (!_attached) return;
        _attached = false;
        foreach (var p in _object.Programs) foreach (var a in p.Attachments.ToList()) a.Dispose();
    }

    /// <summary>Whether a target process is left (always true for -All and -CGroup).</summary>
    public bool AnyTargetAlive() => _target.AnyAlive(_object);

    /// <summary>Per syscall number: calls that returned, those that failed (-4095..-1), and the time between entry and exit.</summary>
    public Dictionary<int, (long Calls, long Errors, TimeSpan Time)> ReadCounts()
    {
        var map = _object.Map("kd_counts");
        int stride = (CountSize + 7) & ~7;
        var value = new byte[stride * _cpus];
        var key = new byte[4];
        var result = new Dictionary<int, (long, long, TimeSpan)>();
        for (int nr = 0; nr < MaxSyscalls; nr++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(key, nr);
            if (!BpfMapAccess.Lookup(map, key, value)) continue;
            long calls = 0, errors = 0, ns = 0;
            for (int c = 0; c < _cpus; c++)
            {
                var v = value.AsSpan(c * stride);
                calls += (long)BinaryPrimitives.ReadUInt64LittleEndian(v);
                errors += (long)BinaryPrimitives.ReadUInt64LittleEndian(v[8..]);
                ns += (long)BinaryPrimitives.ReadUInt64LittleEndian(v[16..]);
            }
            if (calls > 0) result[nr] = (calls, errors, TimeSpan.FromTicks(ns / 100));
        }
        return result;
    }

    /// <summary>The calls summed so far, all syscalls together (for progress).</summary>
    public long TotalCalls() => ReadCounts().Values.Sum(c => c.Calls);

    /// <summary>
    /// What was not counted: calls whose entry found the per-thread table full, processes the pid set had no room
    /// for, and program runs the kernel skipped (a program preempted on a CPU where another run of it came in).
    /// </summary>
    public (long Calls, long Processes, long SkippedRuns) Lost()
    {
        var bss = _object.Map(".bss");
        var value = new byte[bss.ValueSize];
        BpfMapAccess.Lookup(bss, new byte[4], value);
        var offsets = Offsets(bss);
        long calls = (long)BinaryPrimitives.ReadUInt64LittleEndian(value.AsSpan(offsets["kd_lost"]));
        long procs = (long)BinaryPrimitives.ReadUInt64LittleEndian(value.AsSpan(offsets["kd_pids_full"]));
        long skipped = 0;
        foreach (var p in _object.Programs.Where(p => p.Name is "kd_sys_enter" or "kd_sys_exit"))
        {
            var info = new BpfProgInfo();
            BpfInspector.GetInfo(p.Fd, ref info);
            skipped += (long)info.RecursionMisses;
        }
        return (calls, procs, skipped);
    }

    // Where the .bss counters are: the ELF symbols' offsets in their section.
    private Dictionary<string, int> Offsets(BpfObjectMap bss)
    {
        var result = new Dictionary<string, int>();
        foreach (var name in new[] { "kd_lost", "kd_pids_full" })
            result[name] = _object.Spec.DataSymbols.TryGetValue(name, out var sym) ? (int)sym.Offset
                : throw new KernelDebugException($"kd_syscount's {bss.Name} has no symbol {name}.", "BpfObjectInvalid", System.Management.Automation.ErrorCategory.InvalidData);
        return result;
    }

    public void Dispose()
    {
        Stop();
        _object.Dispose();
    }
}
