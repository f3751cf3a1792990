using System.Diagnostics;
using System.Globalization;
using KernelDebug.Native;

namespace KernelDebug.Ftrace;

/// <summary>One ring-buffer page of a CPU, as read (valid only during the call).</summary>
public delegate void RawPageHandler(int cpu, ReadOnlySpan<byte> page);

/// <summary>When a stream of records ends.</summary>
public sealed class TraceReadOptions
{
    /// <summary>Stop after this many records.</summary>
    public long? Count { get; init; }
    /// <summary>Stop after this long (the data already in the buffer is still read out).</summary>
    public TimeSpan? Duration { get; init; }
    /// <summary>Read what is in the buffer now and stop (end of data).</summary>
    public bool NoWait { get; init; }
    /// <summary>
    /// How long one poll() waits. With buffer_percent the kernel wakes the reader only when that share of a CPU's
    /// buffer is full (whole pages); this timeout bounds the latency of a slow stream, read then as partial pages.
    /// </summary>
    public int PollMilliseconds { get; init; } = 250;
}

/// <summary>
/// Reads an instance's per-CPU trace_pipe_raw files (whole sub-buffer pages, one read() each, non-blocking after
/// poll()), decodes them and merges the CPUs in timestamp order. Memory is bounded: at most one decoded page per
/// CPU is held at a time. Reading consumes the buffer, as trace_pipe does.
/// </summary>
public sealed class TraceStreamReader : IDisposable
{
    private sealed class CpuState
    {
        public int Cpu;
        public SafeFileDescriptor Fd = null!;
        public string Path = "";
        public readonly List<TraceRecord> Records = new(256);
        public int Next;
        public bool Drained;
        /// <summary>The trace clock's reading just before this CPU's last read said EAGAIN: it held nothing older then.</summary>
        public ulong DrainedAt;
        /// <summary>Pages read in this round (a round reads at most a buffer's worth per CPU, so it ends under any load).</summary>
        public int RoundPages;
        public long Missed;
        public long MissedUnknownPages;
        public long Pages;
        public bool HasRecord => Next < Records.Count;
    }

    private readonly CpuState[] _cpus;
    private readonly byte[] _page;
    private readonly (long Overrun, long Dropped)[] _baseline;
    private readonly FtraceInstance _instance;
    private readonly int _roundPageLimit;
    private readonly IDisposable _shutdownHook;

    public TraceStreamReader(FtraceInstance instance, TraceRecordDecoder? decoder = null)
    {
        _instance = instance;
        var root = Host.KernelFileSystems.GetTraceFs();
        var layout = RingBufferLayout.Load(root, instance);
        Decoder = decoder ?? new TraceRecordDecoder(layout, new CommCache(root), new TraceClock(FtraceInstance.ParseSelected(instance.ReadOptional("trace_clock"))));
        _page = new byte[Decoder.Layout.PageSize];
        long bufferKb = long.TryParse(instance.ReadOptional("buffer_size_kb")?.Trim().Split(' ')[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var kb) ? kb : 1408;
        _roundPageLimit = (int)Math.Clamp(bufferKb * 1024 / Math.Max(1, Decoder.Layout.PageSize) + 2, 4, 1 << 20);
        var cpus = instance.Cpus;
        _cpus = new CpuState[cpus.Count];
        _baseline = new (long, long)[cpus.Count];
        // On SIGTERM/SIGHUP the instance is removed while the pipeline thread may still be reading: its open
        // trace_pipe_raw files would make that rmdir EBUSY, so they are closed first (a read in flight ends first).
        _shutdownHook = Host.ShutdownHooks.Add(Host.ShutdownHooks.StageFinish, CloseFiles);
        try
        {
            for (int i = 0; i < cpus.Count; i++)
            {
                var path = instance.FilePath($"per_cpu/cpu{cpus[i].ToString(CultureInfo.InvariantCulture)}/trace_pipe_raw");
                _cpus[i] = new CpuState { Cpu = cpus[i], Path = path, Fd = Interop.Open(path, Interop.O_RDONLY | Interop.O_NONBLOCK) };
                _baseline[i] = ReadCpuStats(cpus[i]);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public TraceRecordDecoder Decoder { get; }

    /// <summary>Sees every page as read from trace_pipe_raw, before it is decoded (a trace.dat writer keeps them unchanged).</summary>
    public RawPageHandler? PageRead { get; set; }

    /// <summary>Events the kernel reported lost between pages (page header missed-events counts).</summary>
    public long LostEvents => _cpus.Sum(c => c?.Missed ?? 0);

    /// <summary>Pages that said events were lost without saying how many.</summary>
    public long LostEventPagesWithoutCount => _cpus.Sum(c => c?.MissedUnknownPages ?? 0);

    public long PagesRead => _cpus.Sum(c => c?.Pages ?? 0);

    /// <summary>Records decoded from the pages read: reading consumed them from the kernel's buffer.</summary>
    public long RecordsRead { get; private set; }

    /// <summary>Records read (so consumed) that have not been handed out yet.</summary>
    public long RecordsHeld => _cpus.Sum(c => c is null ? 0 : c.Records.Count - c.Next);

    /// <summary>Lost events per CPU (page headers).</summary>
    public IReadOnlyDictionary<int, long> LostEventsByCpu => _cpus.Where(c => c is not null).ToDictionary(c => c.Cpu, c => c.Missed);

    /// <summary>Overwritten (overrun) and dropped events since this reader opened, summed over CPUs (per_cpu/cpuN/stats).</summary>
    public (long Overrun, long Dropped) ReadStats()
    {
        long o = 0, d = 0;
        for (int i = 0; i < _cpus.Length; i++)
        {
            var (ov, dr) = ReadCpuStats(_cpus[i].Cpu);
            o += Math.Max(0, ov - _baseline[i].Overrun);
            d += Math.Max(0, dr - _baseline[i].Dropped);
        }
        return (o, d);
    }

    private (long Overrun, long Dropped) ReadCpuStats(int cpu) => ReadCpuStats(_instance, cpu);

    /// <summary>An instance's overwritten (overrun) and dropped event counts of one CPU since its buffer was last reset (per_cpu/cpuN/stats).</summary>
    public static (long Overrun, long Dropped) ReadCpuStats(FtraceInstance instance, int cpu)
    {
        var text = instance.ReadOptional($"per_cpu/cpu{cpu.ToString(CultureInfo.InvariantCulture)}/stats");
        return (StatValue(text, "overrun:"), StatValue(text, "dropped events:"));
    }

    internal static long StatValue(string? stats, string key)
    {
        if (stats is null) return 0;
        foreach (var line in stats.Split('\n'))
            if (line.StartsWith(key, StringComparison.Ordinal) && long.TryParse(line[key.Length..].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
                return v;
        return 0;
    }

    /// <summary>
    /// Everything in the buffers now, merged across CPUs by timestamp. Pages are read lazily (one per CPU at a time);
    /// a CPU is done for this round when its read() says EAGAIN.
    /// </summary>
    /// <remarks>
    /// A round ends at the trace clock's reading when it began: records stamped later wait in memory for the next
    /// round, so a source that never pauses (the reader's own activity traced) cannot keep one round going for ever.
    /// A CPU found empty holds nothing older than the moment it was found empty; before a record later than that goes
    /// out, that CPU is read again (an idle CPU may record while the busy ones' pages are read). Where the clock cannot
    /// be read from user space (local, global...) the merge is by what has been read, and a round reads at most a
    /// buffer's worth of pages per CPU.
    /// </remarks>
    public IEnumerable<TraceRecord> ReadAvailable() => ReadRound(final: false);

    /// <summary>A round; a final one also hands out the records it read that are newer than its start.</summary>
    internal IEnumerable<TraceRecord> ReadRound(bool final)
    {
        var clock = Decoder.Clock;
        ulong? cutoff = clock.Now();
        foreach (var c in _cpus) { c.Drained = false; c.RoundPages = 0; }
        while (true)
        {
            CpuState? best = null;
            foreach (var c in _cpus)
            {
                while (!c.HasRecord && !c.Drained) Fill(c, clock);
                if (c.HasRecord && (best is null || c.Records[c.Next].Timestamp < best.Records[best.Next].Timestamp)) best = c;
            }
            if (best is null) yield break;
            ulong next = best.Records[best.Next].Timestamp;
            if (cutoff is ulong cut)
            {
                if (next > cut && !final) yield break;
                bool look = false;
                foreach (var c in _cpus)
                {
                    // Once per CPU per record boundary: the new EAGAIN is stamped after the round began, so at least next.
                    if (!c.HasRecord && c.Drained && c.DrainedAt < next && c.DrainedAt != ulong.MaxValue && c.RoundPages < _roundPageLimit)
                    {
                        c.Drained = false;
                        look = true;
                    }
                }
                if (look) continue;
            }
            yield return best.Records[best.Next++];
        }
    }

    /// <summary>The records already read and not handed out, merged, without reading more (a stream that must end now).</summary>
    internal IEnumerable<TraceRecord> TakeHeld()
    {
        while (true)
        {
            CpuState? best = null;
            foreach (var c in _cpus)
                if (c.HasRecord && (best is null || c.Records[c.Next].Timestamp < best.Records[best.Next].Timestamp)) best = c;
            if (best is null) yield break;
            yield return best.Records[best.Next++];
        }
    }

    private void Fill(CpuState c, TraceClock clock)
    {
        c.Records.Clear();
        c.Next = 0;
        if (c.RoundPages >= _roundPageLimit) { c.Drained = true; return; }
        ulong before = clock.Now() ?? 0;
        int n = (int)Interop.RetryOnEintr(() => ReadPage(c.Fd));
        if (n < 0)
        {
            int errno = Errno.Last;
            if (errno == Errno.EAGAIN) { c.Drained = true; c.DrainedAt = before; return; }
            // A CPU that went offline, or an instance removed under us: no more data from it.
            if (errno is Errno.ENODEV or Errno.ENOENT) { c.Drained = true; c.DrainedAt = ulong.MaxValue; return; }
            throw new KernelDebugException(errno, "read", c.Path);
        }
        if (n == 0) { c.Drained = true; c.DrainedAt = before; return; }
        c.Pages++;
        c.RoundPages++;
        PageRead?.Invoke(c.Cpu, _page.AsSpan(0, n));
        long missed = Decoder.DecodePage(_page.AsSpan(0, n), c.Cpu, c.Records);
        RecordsRead += c.Records.Count;
        if (missed > 0) c.Missed += missed;
        else if (missed < 0) c.MissedUnknownPages++;
    }

    private unsafe long ReadPage(SafeFileDescriptor fd)
    {
        fixed (byte* p = _page) return Interop.read(fd, p, (nuint)_page.Length);
    }

    /// <summary>Waits until a CPU buffer is readable (per buffer_percent) or the timeout passes. True when data is ready.</summary>
    public unsafe bool Wait(int timeoutMilliseconds)
    {
        var fds = stackalloc Interop.PollFd[_cpus.Length];
        for (int i = 0; i < _cpus.Length; i++) fds[i] = new Interop.PollFd { Fd = _cpus[i].Fd.Fd, Events = Interop.POLLIN };
        int r = Interop.poll(fds, (nuint)_cpus.Length, timeoutMilliseconds);
        if (r < 0 && Errno.Last != Errno.EINTR) throw new KernelDebugException(Errno.Last, "poll", _instance.Name);
        return r > 0;
    }

    /// <summary>
    /// Reads round after round while traced work runs: each round delivers what the buffers hold, then
    /// <paramref name="endOfRound"/> runs, then the reader waits for data. Ends when <paramref name="sink"/> or
    /// <paramref name="endOfRound"/> returns false, or after the round that began once <paramref name="finished"/> was
    /// true (the records of the work's last moments are in that round).
    /// </summary>
    public void RunUntil(Func<TraceRecord, bool> sink, Func<bool> finished, int pollMilliseconds, Func<bool> endOfRound)
    {
        while (true)
        {
            bool last = finished();
            foreach (var r in ReadRound(final: last))
                if (!sink(r)) return;
            if (!endOfRound() || last) return;
            Wait(pollMilliseconds);
        }
    }

    /// <summary>
    /// Streams records to <paramref name="sink"/> until it returns false, the token is cancelled, Count or Duration is
    /// reached, or (NoWait) the buffer is empty. <paramref name="beforeWait"/> runs each time the buffers are empty,
    /// before the reader sleeps in poll() (a batching sink hands its partial batch on there). Returns the number of
    /// records delivered.
    /// </summary>
    public long Run(Func<TraceRecord, bool> sink, TraceReadOptions options, CancellationToken token, Action? beforeWait = null)
    {
        long delivered = 0;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            bool timeUp = options.Duration is TimeSpan d && clock.Elapsed >= d;
            // The last round also hands out what it read past its start: a -Duration or -NoWait stream drops nothing it read.
            foreach (var r in ReadRound(final: options.NoWait || timeUp))
            {
                if (token.IsCancellationRequested) return delivered;
                if (!sink(r)) return delivered;
                delivered++;
                if (options.Count is long n && delivered >= n) return delivered;
                // Under a steady load the buffer never runs dry: check the clock inside the round too.
                if ((delivered & 1023) == 0 && !timeUp && options.Duration is TimeSpan dd0 && clock.Elapsed >= dd0)
                {
                    // Time is up inside a round: hand out what was read (it is consumed), read no more.
                    foreach (var h in TakeHeld())
                    {
                        if (!sink(h)) return delivered;
                        delivered++;
                    }
                    return delivered;
                }
            }
            if (options.NoWait || timeUp || token.IsCancellationRequested) return delivered;
            beforeWait?.Invoke();
            int wait = options.PollMilliseconds;
            if (options.Duration is TimeSpan dd)
                wait = (int)Math.Clamp((dd - clock.Elapsed).TotalMilliseconds, 0, wait);
            Wait(wait);
        }
    }

    public void Dispose()
    {
        _shutdownHook.Dispose();
        CloseFiles();
    }

    private void CloseFiles()
    {
        foreach (var c in _cpus) c?.Fd?.Dispose();
    }
}
