using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Management.Automation;
using System.Runtime.InteropServices;
using System.Text;
using KernelDebug.Host;
using KernelDebug.Launch;
using KernelDebug.Native;

namespace KernelDebug.Perf;

/// <summary>What Start-PerfRecord asked for.</summary>
public sealed class PerfRecordOptions
{
    public required IReadOnlyList<PerfEventSpec> Events { get; init; }
    public required string Path { get; init; }
    public ulong Frequency { get; init; } = 999;
    /// <summary>A fixed sample period instead of a frequency.</summary>
    public ulong? Period { get; init; }
    public bool CallGraph { get; init; }
    /// <summary>DWARF call graphs (perf record --call-graph dwarf,SIZE): the bytes of user stack copied with each sample; 0 for none.</summary>
    public uint DwarfStackSize { get; init; }
    public TimeSpan? Duration { get; init; }
    /// <summary>The command to start and record (null: processes or all CPUs).</summary>
    public LaunchTarget? Target { get; init; }
    public IReadOnlyList<int>? ProcessIds { get; init; }
    public bool SystemWide { get; init; }
    /// <summary>For the CMDLINE feature.</summary>
    public IReadOnlyList<string> CommandLine { get; init; } = Array.Empty<string>();
    /// <summary>Data pages per CPU ring buffer (a power of two).</summary>
    public int RingPages { get; init; } = 128;
}

/// <summary>
/// perf record: sampling events on per-CPU ring buffers (mmap), drained by a background thread into a perf.data
/// file that perf report and perf script read. Side-band records (COMM, MMAP2, FORK, EXIT) come from the kernel for
/// what happens during the recording, and are synthesized from /proc for processes that already exist.
/// </summary>
public sealed unsafe class PerfRecorder : IDisposable
{
    private const nuint IocEnable = 0x2400, IocDisable = 0x2401, IocSetOutput = 0x2405, IocId = 0x80082407;
    private const ulong SampleTypeBase = PerfFormat.SampleIdentifier | PerfFormat.SampleIp | PerfFormat.SampleTid | PerfFormat.SampleTime | PerfFormat.SampleCpu | PerfFormat.SamplePeriod;

    /// <summary>How often the file's header is rewritten while recording (what a SIGKILL can lose at most).</summary>
    public const int CheckpointIntervalMs = 1000;

    private static int _nextId;
    private static readonly ConcurrentDictionary<int, PerfRecording> Live = new();
    // Every recording started in this session (Get-PerfRecord), ended ones too: a few objects each, the files are on disk.
    private static readonly ConcurrentDictionary<int, PerfRecording> Started = new();

    static PerfRecorder()
    {
        // A recording still running when pwsh exits, or gets SIGTERM or SIGHUP, is finished, so its file is complete.
        ShutdownHooks.Add(ShutdownHooks.StageFinish, () =>
        {
            foreach (var r in Live.Values) r.Recorder?.Stop(TimeSpan.FromSeconds(5));
        });
    }

    /// <summary>The recordings of this session that have not been stopped yet, by id.</summary>
    public static IReadOnlyCollection<PerfRecording> Running => Live.Values.ToArray();

    /// <summary>Every recording started in this session, by id.</summary>
    public static IReadOnlyList<PerfRecording> Session => Started.Values.OrderBy(r => r.Id).ToArray();

    private readonly PerfRecordOptions _options;
    private readonly List<SafeFileDescriptor> _fds = new();
    private readonly List<(nint Base, nuint Length, SafeFileDescriptor Fd)> _rings = new();
    private PerfDataWriter? _writer;
    private LaunchedProcess? _child;
    private Thread? _reader;
    private readonly ManualResetEventSlim _done = new(false);
    private volatile bool _stopRequested;
    private long _samples;
    private long _lost;
    private readonly int _pageSize = Environment.SystemPageSize;
    private byte[] _chunk = Array.Empty<byte>();
    private PerfRecording? _recording;
    private ulong _firstId;

    public PerfRecordingState State { get; private set; } = PerfRecordingState.Running;
    public long Samples => Interlocked.Read(ref _samples);
    public ulong Lost => (ulong)Interlocked.Read(ref _lost);
    public int CommandProcessId { get; private set; }
    public int? ExitCode { get; private set; }
    public Exception? Error { get; private set; }
    public DateTime? EndTime { get; private set; }

    private PerfRecorder(PerfRecordOptions options) => _options = options;

    public static PerfRecording Start(PerfRecordOptions options)
    {
        var recorder = new PerfRecorder(options);
        // Until it is in Live (whose hook finishes it), a recording being set up is released should the process get
        // SIGTERM or SIGHUP: its temporary file and its counters go, its stopped command dies with us.
        using var settingUp = ShutdownHooks.Add(ShutdownHooks.StageFinish, recorder.Dispose);
        try { recorder.Open(); }
        catch
        {
            recorder.Dispose();
            throw;
        }
        var recording = new PerfRecording(Interlocked.Increment(ref _nextId), options.Path, DateTime.Now, recorder);
        recorder._recording = recording;
        try { recorder.Run(); }
        catch
        {
            // The command could not be executed: nothing was started, release everything.
            recorder.Dispose();
            throw;
        }
        Live[recording.Id] = recording;
        Started[recording.Id] = recording;
        return recording;
    }

    private void Open()
    {
        var cpus = PerfStat.OnlineCpus();
        var targets = new List<(int Pid, int Cpu)>();
        if (_options.Target is { } target)
        {
            // A recording outlives Start-PerfRecord: its command must not die with the thread that ran the cmdlet.
            _child = ChildLauncher.StartStoppedOnLauncherThread(target);
            CommandProcessId = _child.ProcessId;
            targets.AddRange(cpus.Select(c => (_child.ProcessId, c)));
        }
        else if (_options.ProcessIds is { } pids)
        {
            foreach (var pid in pids)
                foreach (var tid in PerfStat.Threads(pid))
                    targets.AddRange(cpus.Select(c => (tid, c)));
        }
        else targets.AddRange(cpus.Select(c => (-1, c)));

        var ringOfCpu = new Dictionary<int, SafeFileDescriptor>();
        var attrs = new List<(PerfEventAttr, string, ulong[])>();
        ulong dataBytes = (ulong)(_options.RingPages * _pageSize);
        for (int i = 0; i < _options.Events.Count; i++)
        {
            var spec = _options.Events[i];
            var flags = PerfAttrFlags.Disabled | PerfAttrFlags.SampleIdAll | PerfAttrFlags.Watermark;
            if (_options.Period is null) flags |= PerfAttrFlags.Freq;
            if (!_options.SystemWide) flags |= PerfAttrFlags.Inherit;
            if (_child is not null) flags |= PerfAttrFlags.EnableOnExec;
            if (i == 0) flags |= PerfAttrFlags.Mmap | PerfAttrFlags.Mmap2 | PerfAttrFlags.Comm | PerfAttrFlags.CommExec | PerfAttrFlags.Task;
            PerfEventAttr AttrOf(PerfEventSpec s)
            {
                var a = s.ToAttr(flags);
                a.SampleType = SampleTypeBase | (_options.CallGraph ? PerfFormat.SampleCallchain : 0);
                if (_options.DwarfStackSize > 0)
                {
                    // As perf record --call-graph dwarf sets the attr: the kernel's call chain without its user part,
                    // the user registers perf's unwinder reads (PERF_REGS_MASK) and a copy of the user stack; and, as
                    // perf turns on with it, the data address and source (with data mmaps on the tracking event).
                    a.SampleType |= PerfFormat.SampleCallchain | PerfFormat.SampleRegsUser | PerfFormat.SampleStackUser | PerfFormat.SampleAddr | PerfFormat.SampleDataSrc;
                    a.Flags |= (ulong)PerfAttrFlags.ExcludeCallchainUser;
                    if ((a.Flags & (ulong)PerfAttrFlags.Mmap) != 0) a.Flags |= (ulong)PerfAttrFlags.MmapData;
                    a.SampleRegsUser = DwarfRegisterMask();
                    a.SampleStackUser = (_options.DwarfStackSize + 7) & ~7u;
                }
                a.ReadFormat = PerfFormat.FormatId;
                a.SamplePeriodOrFreq = _options.Period ?? _options.Frequency;
                a.WakeupEventsOrWatermark = (uint)(dataBytes / 4);
                return a;
            }
            var attr = AttrOf(spec);
            var ids = new List<ulong>();
            foreach (var (pid, cpu) in targets)
            {
                var a = attr;
                int fd = Interop.perf_event_open(ref a, pid, cpu, -1, Interop.PERF_FLAG_FD_CLOEXEC);
                int errno = fd < 0 ? Errno.Last : 0;
                // As perf record does at perf_event_paranoid 2 and up: an unprivileged user samples user space only (name:u).
                if (fd < 0 && errno is Errno.EACCES or Errno.EPERM && !spec.ExcludeKernel && ids.Count == 0)
                {
                    var userOnly = spec.UserOnly();
                    var ua = AttrOf(userOnly);
                    a = ua;
                    fd = Interop.perf_event_open(ref a, pid, cpu, -1, Interop.PERF_FLAG_FD_CLOEXEC);
                    if (fd >= 0) { spec = userOnly; attr = ua; }
                }
                if (fd < 0) throw SamplingOpenError(errno, spec, pid, cpu);
                var handle = new SafeFileDescriptor(fd);
                _fds.Add(handle);
                ulong id;
                Interop.Check(Interop.ioctl(handle, IocId, (nint)(&id)), "ioctl PERF_EVENT_IOC_ID", spec.Name);
                ids.Add(id);
                if (_firstId == 0) _firstId = id;
                if (ringOfCpu.TryGetValue(cpu, out var ring))
                    Interop.Check(Interop.ioctl(handle, IocSetOutput, ring.Fd), "ioctl PERF_EVENT_IOC_SET_OUTPUT", spec.Name);
                else
                {
                    nuint length = (nuint)((_options.RingPages + 1) * _pageSize);
                    nint p = Interop.mmap(0, length, Interop.PROT_READ | Interop.PROT_WRITE, Interop.MAP_SHARED, handle, 0);
                    if (p == Interop.MAP_FAILED)
                    {
                        int err = Errno.Last;
                        throw new KernelDebugException(err, "mmap perf ring buffer", $"CPU {cpu}")
                        {
                            Remedy = err == Errno.EPERM ? "The locked-memory limit for perf buffers is exhausted: raise kernel.perf_event_mlock_kb or ulimit -l, or use fewer -RingPages." : null,
                        };
                    }
                    _rings.Add((p, length, handle));
                    ringOfCpu[cpu] = handle;
                }
            }
            attrs.Add((attr, spec.Name, ids.ToArray()));
        }
        _chunk = new byte[dataBytes];
        _writer = new PerfDataWriter(_options.Path, attrs);
        SynthesizeKernelMap();
        if (_options.ProcessIds is { } ps) foreach (var pid in ps) SynthesizeProcess(pid);
        else if (_options.SystemWide)
            foreach (var dir in Directory.GetDirectories("/proc"))
                if (int.TryParse(System.IO.Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) SynthesizeProcess(pid);
    }

    /// <summary>perf's PERF_REGS_MASK for this host's architecture (arch__user_reg_mask).</summary>
    private static ulong DwarfRegisterMask() => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => Unwind.UnwindRegisters.X86_64PerfMask,
        Architecture.Arm64 => Unwind.UnwindRegisters.AArch64PerfMask,
        var a => throw new KernelDebugException($"DWARF call graphs are recorded on x86_64 and aarch64 only, not on {a}; use -CallGraph FramePointer.",
            "PerfDwarfArchitecture", ErrorCategory.NotImplemented),
    };

    private static KernelDebugException SamplingOpenError(int errno, PerfEventSpec spec, int pid, int cpu)
    {
        if (errno is Errno.ENOENT or Errno.EOPNOTSUPP or Errno.ENODEV)
            return new KernelDebugException($"The event '{spec.Name}' cannot be sampled on this host ({Errno.Name(errno)}): {PerfEventList.ExplainOpenError(errno)}. Software events such as cpu-clock can.",
                "PerfEventNotSupported", ErrorCategory.NotImplemented) { Target = spec.Name };
        if (errno == Errno.EINVAL)
        {
            var max = ControlFile.TryReadText("/proc/sys/kernel/perf_event_max_sample_rate", out _)?.Trim();
            return new KernelDebugException($"The kernel refused to sample '{spec.Name}' (EINVAL); the frequency may exceed kernel.perf_event_max_sample_rate={max}.",
                "PerfEventInvalid", ErrorCategory.InvalidArgument) { Target = spec.Name };
        }
        return PerfCounterSet.OpenError(errno, spec, pid, cpu);
    }

    private void Run()
    {
        if (_child is not null)
        {
            _child.Resume();
            LaunchedProcess.ThrowIfExecFailed(_child.WaitForExec(), _child.Path);
            var waiter = new Thread(() =>
            {
                try
                {
                    var ws = _child.WaitForExit();
                    ExitCode = ws.Exited ? ws.ExitCode : 128 + ws.TermSignal;
                    _child.Dispose();
                }
                catch (KernelDebugException) { }
                RequestStop();
            }) { IsBackground = true, Name = "perf record waiter" };
            waiter.Start();
        }
        else
            foreach (var fd in _fds) Interop.Check(Interop.ioctl(fd, IocEnable, 0), "ioctl PERF_EVENT_IOC_ENABLE");
        if (_options.Duration is { } d)
            _ = Task.Delay(d).ContinueWith(_ => RequestStop(), TaskScheduler.Default);
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = "perf record reader" };
        _reader.Start();
    }

    private void RequestStop() => _stopRequested = true;

    private void ReadLoop()
    {
        try
        {
            var polls = new Interop.PollFd[_rings.Count];
            for (int i = 0; i < _rings.Count; i++) polls[i] = new Interop.PollFd { Fd = _rings[i].Fd.Fd, Events = Interop.POLLIN };
            // The header is kept current (every CheckpointInterval) so that a SIGKILLed recording stays readable up to there.
            _writer!.Checkpoint();
            long lastCheckpoint = Environment.TickCount64;
            while (!_stopRequested)
            {
                fixed (Interop.PollFd* p = polls) Interop.poll(p, (nuint)polls.Length, 100);
                DrainAll();
                if (Environment.TickCount64 - lastCheckpoint >= CheckpointIntervalMs)
                {
                    _writer.Checkpoint();
                    lastCheckpoint = Environment.TickCount64;
                }
            }
            foreach (var fd in _fds) Interop.ioctl(fd, IocDisable, 0);
            DrainAll();
            _writer!.Finish(_options.CommandLine);
            Finish(_child is not null && ExitCode is not null ? PerfRecordingState.Completed : PerfRecordingState.Stopped, null);
        }
        catch (Exception e)
        {
            Finish(PerfRecordingState.Failed, e);
        }
    }

    private void Finish(PerfRecordingState state, Exception? error)
    {
        Error = error;
        EndTime = DateTime.Now;
        ReleaseKernelObjects();
        _writer?.Dispose();
        if (_child is not null && ExitCode is null)
        {
            _child.Kill(Interop.SIGTERM);
        }
        State = state;
        if (_recording is not null) Live.TryRemove(_recording.Id, out _);
        _done.Set();
    }

    private void DrainAll()
    {
        bool any = false;
        foreach (var ring in _rings) any |= Drain(ring.Base);
        if (any) _writer!.WriteFinishedRound();
    }

    /// <summary>Copies [tail, head) of one ring into the file and advances the tail (the kernel's protocol: acquire head, release tail).</summary>
    private bool Drain(nint ringBase)
    {
        byte* meta = (byte*)ringBase;
        ulong head = Volatile.Read(ref *(ulong*)(meta + 1024));
        ulong tail = *(ulong*)(meta + 1032);
        if (head == tail) return false;
        ulong size = (ulong)(_options.RingPages * _pageSize);
        byte* data = meta + _pageSize;
        int length = (int)(head - tail);
        int start = (int)(tail % size);
        int first = Math.Min(length, (int)size - start);
        new ReadOnlySpan<byte>(data + start, first).CopyTo(_chunk);
        if (first < length) new ReadOnlySpan<byte>(data, length - first).CopyTo(_chunk.AsSpan(first));
        Volatile.Write(ref *(ulong*)(meta + 1032), head);

        var span = _chunk.AsSpan(0, length);
        for (int off = 0; off + 8 <= length;)
        {
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(span[off..]);
            int recSize = BinaryPrimitives.ReadUInt16LittleEndian(span[(off + 6)..]);
            if (recSize < 8 || off + recSize > length) break;
            if (type == PerfFormat.RecordSample)
            {
                Interlocked.Increment(ref _samples);
                if (recSize >= 40) _writer!.NoteSampleTime(BinaryPrimitives.ReadUInt64LittleEndian(span[(off + 32)..]));
            }
            else if (type == PerfFormat.RecordLost && recSize >= 24)
                Interlocked.Add(ref _lost, (long)BinaryPrimitives.ReadUInt64LittleEndian(span[(off + 16)..]));
            off += recSize;
        }
        _writer!.WriteRecords(span);
        return true;
    }

    // ---------- synthesized side-band records ----------

    private void WriteSynthesized(uint type, ushort misc, ReadOnlySpan<byte> body, int pid, int tid)
    {
        // body, NUL-padded to 8 bytes, then the sample_id trailer: TID, TIME, CPU, IDENTIFIER.
        int padded = (body.Length + 7) / 8 * 8;
        int size = 8 + padded + 32;
        var r = new byte[size];
        BinaryPrimitives.WriteUInt32LittleEndian(r, type);
        BinaryPrimitives.WriteUInt16LittleEndian(r.AsSpan(4), misc);
        BinaryPrimitives.WriteUInt16LittleEndian(r.AsSpan(6), (ushort)size);
        body.CopyTo(r.AsSpan(8));
        int t = 8 + padded;
        BinaryPrimitives.WriteInt32LittleEndian(r.AsSpan(t), pid);
        BinaryPrimitives.WriteInt32LittleEndian(r.AsSpan(t + 4), tid);
        BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(t + 24), _firstId);
        _writer!.WriteRecords(r);
    }

    private void SynthesizeKernelMap()
    {
        var k = KernelDebug.Symbols.Kallsyms.Current;
        if (k.AddressOf("_text") is not { } text) return;
        ulong end = k.AddressOf("_end") ?? k.AddressOf("_etext") ?? text + 0x1000000;
        var name = Encoding.UTF8.GetBytes("[kernel.kallsyms]_text\0");
        var body = new byte[32 + name.Length];
        BinaryPrimitives.WriteInt32LittleEndian(body, -1);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(8), text);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(16), end - text);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(24), text);
        name.CopyTo(body, 32);
        WriteSynthesized(PerfFormat.RecordMmap, PerfFormat.MiscKernel, body, -1, 0);
    }

    /// <summary>COMM for each thread and MMAP2 for each executable mapping of a process that exists already (as perf does from /proc).</summary>
    private void SynthesizeProcess(int pid)
    {
        string[] maps;
        try { maps = File.ReadAllLines($"/proc/{pid}/maps"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return; }
        foreach (var taskDir in SafeDirectories($"/proc/{pid}/task"))
        {
            if (!int.TryParse(System.IO.Path.GetFileName(taskDir), NumberStyles.None, CultureInfo.InvariantCulture, out var tid)) continue;
            string comm;
            try { comm = File.ReadAllText(System.IO.Path.Combine(taskDir, "comm")).TrimEnd('\n'); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            var name = Encoding.UTF8.GetBytes(comm + "\0");
            var body = new byte[8 + name.Length];
            BinaryPrimitives.WriteInt32LittleEndian(body, pid);
            BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(4), tid);
            name.CopyTo(body, 8);
            WriteSynthesized(PerfFormat.RecordComm, 0, body, pid, tid);
        }
        foreach (var line in maps)
        {
            // start-end perms offset maj:min inode path
            var f = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 6 || f[1].Length < 4 || f[1][2] != 'x') continue;
            var path = f[5].Trim();
            if (path.Length == 0 || path.EndsWith(" (deleted)", StringComparison.Ordinal)) continue;
            var range = f[0].Split('-');
            var dev = f[3].Split(':');
            ulong start = ulong.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture), end = ulong.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            var name = Encoding.UTF8.GetBytes(path + "\0");
            var body = new byte[64 + name.Length];
            BinaryPrimitives.WriteInt32LittleEndian(body, pid);
            BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(4), pid);
            BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(8), start);
            BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(16), end - start);
            BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(24), ulong.Parse(f[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
            BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(32), uint.Parse(dev[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
            BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(36), uint.Parse(dev[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
            BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(40), ulong.Parse(f[4], CultureInfo.InvariantCulture));
            uint prot = (f[1][0] == 'r' ? 1u : 0) | (f[1][1] == 'w' ? 2u : 0) | 4u;
            BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(56), prot);
            BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(60), f[1][3] == 'p' ? 2u : 1u);
            name.CopyTo(body, 64);
            WriteSynthesized(PerfFormat.RecordMmap2, PerfFormat.MiscUser, body, pid, pid);
        }
    }

    private static string[] SafeDirectories(string dir)
    {
        try { return Directory.GetDirectories(dir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return Array.Empty<string>(); }
    }

    // ---------- control ----------

    /// <summary>Waits until the recording ends (the command exits, the duration passes, or Stop); false on timeout or cancellation.</summary>
    /// <summary>The recording's planned length, when it has one.</summary>
    public TimeSpan? Duration => _options.Duration;

    public bool Wait(TimeSpan? timeout, CancellationToken cancel)
    {
        try { return _done.Wait(timeout ?? Timeout.InfiniteTimeSpan, cancel); }
        catch (OperationCanceledException) { return false; }
    }

    /// <summary>Ends the recording (terminating a recorded command) and waits for the file to be finished.</summary>
    public void Stop(TimeSpan? timeout = null)
    {
        if (_child is not null && ExitCode is null && !_done.IsSet)
        {
            _child.Kill(Interop.SIGTERM);
            if (!_done.Wait(TimeSpan.FromSeconds(1))) _child.Kill(Interop.SIGKILL);
        }
        RequestStop();
        _done.Wait(timeout ?? TimeSpan.FromSeconds(30));
    }

    private void ReleaseKernelObjects()
    {
        foreach (var (b, len, _) in _rings) Interop.munmap(b, len);
        _rings.Clear();
        foreach (var fd in _fds) fd.Dispose();
        _fds.Clear();
    }

    public void Dispose()
    {
        ReleaseKernelObjects();
        _writer?.Dispose();
        _child?.Dispose();
        Output?.Dispose();
    }

    /// <summary>The recorded command's captured output (no terminal, no redirection), for Wait-PerfRecord and Stop-PerfRecord to write.</summary>
    internal OutputCapture? Output => _options.Target?.Options.Capture;

    /// <summary>How many dropped output lines were reported already.</summary>
    internal long OutputDroppedReported;

    /// <summary>Waits like <see cref="Wait"/>, running <paramref name="between"/> at least every 100 ms (to write the command's output).</summary>
    public bool Wait(TimeSpan? timeout, CancellationToken cancel, Action between)
    {
        var end = timeout is { } t ? DateTime.UtcNow + t : DateTime.MaxValue;
        while (true)
        {
            between();
            var left = end - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) return _done.IsSet;
            if (Wait(left < TimeSpan.FromMilliseconds(100) ? left : TimeSpan.FromMilliseconds(100), cancel)) break;
            if (cancel.IsCancellationRequested) return false;
        }
        // The rest of the output: the pipes close when the command and what it started are gone.
        Output?.WaitForEnd(TimeSpan.FromSeconds(1));
        between();
        return true;
    }
}
