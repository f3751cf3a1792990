using System.Buffers.Binary;
using System.Runtime.InteropServices;
using KernelDebug.Bpf;
using KernelDebug.Native;

namespace KernelDebug.Syscall;

internal enum SyscallBpfTarget { Processes = 0, All = 1, CGroup = 2 }

/// <summary>kd_syscalls.bpf.o loaded and configured: constants, the capture table, the pid set, the ring buffer reader.</summary>
internal sealed class SyscallBpfSession : IDisposable
{
    private readonly BpfObject _obj;
    private BpfEventReader? _reader;

    private SyscallBpfSession(BpfObject obj) => _obj = obj;

    public BpfEventReader Reader => _reader ??= BpfEventReader.Open(_obj.Map("events"));

    public static SyscallBpfSession Load(SyscallTraceOptions options, SyscallBpfTarget target, ulong cgroupId, Architecture arch)
    {
        var spec = BpfObjectSpec.BuiltIn("kd_syscalls");
        spec.SetConstant("target_mode", (uint)target);
        spec.SetConstant("self_tgid", (uint)Environment.ProcessId);
        spec.SetConstant("cgroup_id", cgroupId);
        spec.SetConstant("follow_fork", options.FollowFork ? 1u : 0u);
        spec.SetConstant("result_filter", options.FailedOnly ? 1u : options.SuccessfulOnly ? 2u : 0u);
        spec.SetConstant("execve_nr", (uint)SyscallTable.ByName("execve", arch)!.NumberFor(arch));
        spec.SetConstant("execveat_nr", (uint)SyscallTable.ByName("execveat", arch)!.NumberFor(arch));
        spec.SetConstant("emit_exits", options.FailedOnly || options.SuccessfulOnly ? 0u : 1u);
        spec.Maps.First(m => m.Name == "events").MaxEntries = (uint)RingSize(options.BufferSize ?? SyscallBpfTracer.DefaultBufferSize);
        var obj = BpfObject.Load(spec);
        var s = new SyscallBpfSession(obj);
        try
        {
            var table = obj.Map("table");
            foreach (var (nr, entry) in SyscallBpfTable.Build(arch, options.Syscalls, options.MaxStringLength))
                BpfObject.UpdateElem(table.Fd, (uint)nr, entry, table.Name);
            _ = s.Reader;
        }
        catch
        {
            s.Dispose();
            throw;
        }
        return s;
    }

    /// <summary>A ring buffer size the kernel takes: a power of two of pages, at least 64 KiB.</summary>
    public static long RingSize(long requested)
    {
        long size = 64 << 10;
        while (size < requested && size < (1L << 30)) size <<= 1;
        return size;
    }

    public void AddProcess(int tgid, bool waitForExec)
    {
        var value = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(value, waitForExec ? 1u : 2u);
        var pids = _obj.Map("pids");
        BpfObject.UpdateElem(pids.Fd, (uint)tgid, value, pids.Name);
    }

    public void Attach()
    {
        foreach (var p in _obj.Programs)
        {
            // The fork program only matters to the pid set; the others always run.
            BpfAttacher.Attach(p);
        }
    }

    /// <summary>True while the pid set has a process (the kernel removes each on its exit).</summary>
    public unsafe bool HasProcesses()
    {
        var pids = _obj.Map("pids");
        uint next = 0;
        var attr = new BpfMapElemAttr { MapFd = (uint)pids.Fd.Fd, Key = 0, ValueOrNextKey = (ulong)&next };
        return Interop.bpf(Interop.BPF_MAP_GET_NEXT_KEY, &attr, (uint)sizeof(BpfMapElemAttr)) == 0;
    }

    /// <summary>The records lost to a full ring buffer, summed over CPUs.</summary>
    public unsafe long ReadLost()
    {
        var map = _obj.Map("lost");
        int cpus = BpfMapReader.PossibleCpus();
        var values = new ulong[cpus];
        uint key = 0;
        fixed (ulong* v = values)
        {
            var attr = new BpfMapElemAttr { MapFd = (uint)map.Fd.Fd, Key = (ulong)&key, ValueOrNextKey = (ulong)v };
            if (Interop.bpf(Interop.BPF_MAP_LOOKUP_ELEM, &attr, (uint)sizeof(BpfMapElemAttr)) != 0) return 0;
        }
        long sum = 0;
        foreach (var x in values) sum += (long)x;
        return sum;
    }

    public void Dispose()
    {
        _reader?.Dispose();
        _obj.Dispose();
    }
}

/// <summary>
/// kd_syscalls' per-syscall table: selected or not, and for each argument what user memory to capture, derived from
/// the argument kinds the decoder reads (so it finds in the captured bytes what it would read in the tracee).
/// </summary>
internal static class SyscallBpfTable
{
    private const byte None = 0, Str = 1, BufLen = 2, Fixed = 3, Argv = 4, OutRet = 5, OutFixed = 6, OutSock = 7, Ptrs = 8;
    public const int MaxCapture = 4104;
    private const int PathMax = 4096;

    /// <summary>struct kd_table_entry per syscall number of the architecture.</summary>
    public static IEnumerable<(int Nr, byte[] Entry)> Build(Architecture arch, HashSet<int>? selected, int maxString)
    {
        foreach (var info in SyscallTable.ForArchitecture(arch))
        {
            int nr = info.NumberFor(arch);
            if (nr < 0 || nr >= 1024) continue;
            if (selected is not null && !selected.Contains(nr)) continue;
            var e = new byte[28];
            BinaryPrimitives.WriteUInt32LittleEndian(e, 1);
            var ps = info.ParametersFor(arch);
            for (int i = 0; i < ps.Count && i < 6; i++)
            {
                var (kind, limit) = CaptureFor(ps[i], maxString);
                e[4 + 4 * i] = kind;
                e[5 + 4 * i] = (byte)Math.Max(0, ps[i].LengthArgument);
                BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(6 + 4 * i), (ushort)Math.Min(limit, MaxCapture));
            }
            yield return (nr, e);
        }
    }

    /// <summary>What the decoder reads for an argument of this kind (see SyscallDecoder), as a capture.</summary>
    internal static (byte Kind, int Limit) CaptureFor(SyscallParameter p, int maxString) => p.Kind switch
    {
        // bpf_probe_read_user_str keeps size - 1 bytes and a NUL: limit + 2 keeps one byte past the limit, which
        // tells a string cut at the limit from one that ends there (as the decoder's read of the next byte does).
        ArgumentKind.Path => (Str, PathMax + 2),
        ArgumentKind.Str => (Str, maxString + 2),
        ArgumentKind.InBuf => p.LengthArgument >= 0 ? (BufLen, maxString) : (None, 0),
        ArgumentKind.SigSet => (Fixed, 8),
        ArgumentKind.Sockaddr => p.LengthArgument >= 0 ? (BufLen, 128) : (Fixed, 128),
        ArgumentKind.Argv => (Argv, maxString + 2),
        // envp is only counted: its pointer array, up to 511 variables.
        ArgumentKind.Envp => (Ptrs, 512),
        ArgumentKind.OutBuf => (OutRet, maxString),
        ArgumentKind.Stat => (OutFixed, 144),
        ArgumentKind.OutSigSet => (OutFixed, 8),
        ArgumentKind.FdPair => (OutFixed, 8),
        ArgumentKind.OutSockaddr => p.LengthArgument >= 0 ? (OutSock, 128) : (OutFixed, 128),
        ArgumentKind.WaitStatus => (OutFixed, 4),
        _ => (None, 0),
    };
}
