using System.Buffers.Binary;
using System.Diagnostics;
using System.Management.Automation;
using System.Runtime.InteropServices;
using System.Text;
using KernelDebug.Bpf;
using KernelDebug.Launch;
using KernelDebug.Native;

namespace KernelDebug.Syscall;

/// <summary>
/// The BPF engine behind Get-SyscallTrace: kd_syscalls.bpf.o on raw_syscalls sys_enter/sys_exit pairs each call in
/// the kernel and sends one ring-buffer record per completed call, with the user memory its arguments point to
/// captured there (per the table <see cref="SyscallBpfTable"/> fills). The records are decoded by the ptrace engine's
/// <see cref="SyscallDecoder"/>, reading <see cref="CapturedMemory"/> instead of the tracee. The tracee is never
/// stopped: a record the full ring buffer has no room for is lost, counted per CPU (<see cref="Lost"/>).
/// </summary>
public sealed class SyscallBpfTracer
{
    /// <summary>The ring buffer's default size: 1M records of dd's calls (~150 bytes each) fit while the decoder catches up.</summary>
    public const int DefaultBufferSize = 256 << 20;

    // struct kd_record's header (kd_syscalls.bpf.c).
    private const int HeaderSize = 120, CaptureHeader = 16;
    private const int KindSyscall = 1, KindUnfinished = 2, KindExit = 3;

    private readonly SyscallTraceOptions _options;
    private readonly Func<SyscallTraceRecord, bool> _post;
    private readonly Architecture _arch = RuntimeInformation.ProcessArchitecture;
    private readonly CapturedMemory _memory = new();
    private readonly SyscallDecoder _decoder;
    private readonly double _nsPerTick = 1e9 / Stopwatch.Frequency;
    private readonly DateTime _epoch;
    private volatile bool _stopRequested;
    private long _lost;

    public SyscallBpfTracer(SyscallTraceOptions options, Func<SyscallTraceRecord, bool> post)
    {
        _options = options;
        _post = post;
        _decoder = new SyscallDecoder(_memory, _arch, options.MaxStringLength);
        // bpf_ktime_get_ns is CLOCK_MONOTONIC, as Stopwatch is on Linux: the wall time of monotonic 0.
        _epoch = DateTime.UtcNow - TimeSpan.FromTicks((long)(Stopwatch.GetTimestamp() * _nsPerTick / 100));
    }

    /// <summary>Records lost to a full ring buffer (all CPUs), as of the last read.</summary>
    public long Lost => Interlocked.Read(ref _lost);

    /// <summary>Records received from the kernel.</summary>
    public long Received { get; private set; }

    /// <summary>Called on the tracing thread when the lost count grows (the new total).</summary>
    public Action<long>? LostChanged { get; init; }

    public void RequestStop() => _stopRequested = true;

    /// <summary>Starts the command stopped, arms its pid (calls count from its execve), attaches, lets it run; traces until it and what it forked ended.</summary>
    public int RunCommand(LaunchTarget target)
    {
        using var bpf = Load(SyscallBpfTarget.Processes);
        using var child = ChildLauncher.StartStopped(target);
        bpf.AddProcess(child.ProcessId, waitForExec: true);
        bpf.Attach();
        child.Resume();
        bool reaped = false;
        try
        {
            Loop(bpf, () =>
            {
                if (!reaped)
                {
                    int r = Interop.WaitPid(child.ProcessId, out var ws, Interop.WNOHANG | Interop.__WALL);
                    if (r == child.ProcessId && (ws.Exited || !ws.Stopped)) { child.MarkReaped(ws); reaped = true; }
                }
                // Done when the command ended and nothing it forked is left (followed children are in the pid set).
                return reaped && !bpf.HasProcesses();
            });
        }
        finally
        {
            if (!reaped) child.Dispose(); // stopped early: the command is killed, as the ptrace engine does
        }
        int exec = child.ExecErrorAfterExit();
        if (exec != 0) LaunchedProcess.ThrowIfExecFailed(exec, child.Path);
        return child.ExitStatus is { } st ? (st.Exited ? st.ExitCode : 128 + st.TermSignal) : 0;
    }

    /// <summary>Traces running processes (every thread, and with FollowFork what they fork) until stopped or they ended.</summary>
    public void RunAttach(IReadOnlyList<int> processIds, Action<KernelDebugException>? targetFailed = null)
    {
        using var bpf = Load(SyscallBpfTarget.Processes);
        int added = 0;
        foreach (var pid in processIds)
        {
            var error = pid == Environment.ProcessId
                ? new KernelDebugException("A process cannot trace itself.", "CannotTraceSelf", ErrorCategory.InvalidArgument) { Target = pid.ToString() }
                : !Directory.Exists($"/proc/{pid}")
                    ? new KernelDebugException($"There is no process with id {pid}.", "ProcessNotFound", ErrorCategory.ObjectNotFound) { Target = pid.ToString() }
                    : null;
            if (error is not null)
            {
                if (targetFailed is null) throw error;
                targetFailed(error);
                continue;
            }
            bpf.AddProcess(ReadTgid(pid) ?? pid, waitForExec: false);
            added++;
        }
        if (added == 0) return;
        bpf.Attach();
        Loop(bpf, () => !bpf.HasProcesses());
    }

    /// <summary>Traces every process but this one (-All), or those of one cgroup (-CGroup), until stopped or the duration ends.</summary>
    public void RunSystem(ulong? cgroupId)
    {
        using var bpf = Load(cgroupId is null ? SyscallBpfTarget.All : SyscallBpfTarget.CGroup, cgroupId ?? 0);
        bpf.Attach();
        Loop(bpf, () => false);
    }

    private SyscallBpfSession Load(SyscallBpfTarget target, ulong cgroupId = 0) =>
        SyscallBpfSession.Load(_options, target, cgroupId, _arch);

    private void Loop(SyscallBpfSession bpf, Func<bool> finished)
    {
        var deadline = _options.Duration is { } d ? Stopwatch.GetTimestamp() + (long)(d.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
        var reader = bpf.Reader;
        long lastLostCheck = 0;
        bool keepGoing = true;
        bool Handle(ReadOnlySpan<byte> record, int cpu)
        {
            Received++;
            var r = Parse(record);
            if (r is not null && !_post(r)) { keepGoing = false; _stopRequested = true; return false; }
            return true;
        }
        while (keepGoing && !_stopRequested)
        {
            bool done = finished();
            reader.Wait(done ? 0 : 50);
            while (keepGoing && reader.Consume(Handle, 4096) > 0) { }
            long now = Stopwatch.GetTimestamp();
            if (now - lastLostCheck > Stopwatch.Frequency / 4)
            {
                lastLostCheck = now;
                UpdateLost(bpf);
            }
            if (done || now >= deadline) break;
        }
        // Whatever the kernel sent before the end (or the stop) is still handed on when the consumer wants it.
        if (keepGoing && !_stopRequested) while (reader.Consume(Handle, 4096) > 0) { }
        UpdateLost(bpf);
    }

    private void UpdateLost(SyscallBpfSession bpf)
    {
        long lost = bpf.ReadLost();
        if (lost != Interlocked.Exchange(ref _lost, lost)) LostChanged?.Invoke(lost);
    }

    private SyscallTraceRecord? Parse(ReadOnlySpan<byte> rec)
    {
        if (rec.Length < HeaderSize) return null;
        int kind = BinaryPrimitives.ReadInt32LittleEndian(rec);
        int tgid = BinaryPrimitives.ReadInt32LittleEndian(rec[4..]);
        int tid = BinaryPrimitives.ReadInt32LittleEndian(rec[8..]);
        int nr = BinaryPrimitives.ReadInt32LittleEndian(rec[12..]);
        var args = new ulong[6];
        for (int i = 0; i < 6; i++) args[i] = BinaryPrimitives.ReadUInt64LittleEndian(rec[(16 + 8 * i)..]);
        long ret = BinaryPrimitives.ReadInt64LittleEndian(rec[64..]);
        ulong enter = BinaryPrimitives.ReadUInt64LittleEndian(rec[72..]);
        ulong exit = BinaryPrimitives.ReadUInt64LittleEndian(rec[80..]);
        var commBytes = rec.Slice(88, 16);
        int nul = commBytes.IndexOf((byte)0);
        string comm = Encoding.UTF8.GetString(nul >= 0 ? commBytes[..nul] : commBytes);
        int capLen = Math.Min(BinaryPrimitives.ReadInt32LittleEndian(rec[104..]), rec.Length - HeaderSize);
        int entryLen = BinaryPrimitives.ReadInt32LittleEndian(rec[112..]);
        if (kind == KindExit)
        {
            // task->exit_code: the wait status.
            int code = (int)ret;
            bool exited = (code & 0x7f) == 0;
            return new SyscallProcessExit
            {
                Timestamp = ToTime(exit), ProcessId = tgid, ThreadId = tid, Comm = comm,
                ExitCode = exited ? (code >> 8) & 0xff : null,
                Signal = exited ? null : SyscallConstants.SignalName(code & 0x7f), CoreDumped = !exited && (code & 0x80) != 0,
            };
        }
        var data = rec.Slice(HeaderSize, capLen).ToArray();
        _memory.Reset(data);
        for (int off = 0; off + CaptureHeader <= data.Length;)
        {
            ulong addr = BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(off));
            int len = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(off + 8));
            if (len < 0 || off + CaptureHeader + len > data.Length) break;
            _memory.Add(addr, off + CaptureHeader, len, exit: off >= entryLen);
            off += CaptureHeader + ((len + 7) & ~7);
        }
        var info = SyscallTable.ByNumber(nr, _arch);
        var entryArgs = _decoder.DecodeEntry(info, tid, args);
        var duration = TimeSpan.FromTicks((long)(exit - enter) / 100);
        if (kind == KindUnfinished)
            return SyscallEvents.Unfinished(_arch, _options.Path, tgid, tid, comm, nr, entryArgs, ToTime(enter), duration);
        _memory.ExitPhase = true;
        bool failed = ret < 0 && ret >= -4095;
        return SyscallEvents.Completed(_decoder, _arch, _options.Path, tgid, tid, comm, nr, args, entryArgs, ret, failed, ToTime(enter), duration);
    }

    private DateTime ToTime(ulong ns) => _epoch + TimeSpan.FromTicks((long)(ns / 100));

    private static int? ReadTgid(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("Tgid:", StringComparison.Ordinal)) return int.Parse(line[5..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { }
        return null;
    }
}
