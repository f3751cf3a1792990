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
        public long Missed;
        public long MissedUnknownPages;
        public long Pages;
        public bool HasRecord => Next < Records.Count;
    }

    private readonly CpuState[] _cpus;
    private readonly byte[] _page;
    private readonly (long Overrun, long Dropped)[] _baseline;
    private readonly FtraceInstance _instance;

    public TraceStreamReader(FtraceInstance instance, TraceRecordDecoder? decoder = null)
    {
        _instance = instance;
        var root = Host.KernelFileSystems.GetTraceFs();
        var layout = RingBufferLayout.Load(root, instance);
        Decoder = decoder ?? new TraceRecordDecoder(layout, new CommCache(root), new TraceClock(FtraceInstance.ParseSelected(instance.ReadOptional("trace_clock"))));
        _page = new byte[Decoder.Layout.PageSize];
        var cpus = instance.Cpus;
        _cpus = new CpuState[cpus.Count];
        _baseline = new (long, long)[cpus.Count];
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
    public IEnumerable<TraceRecord> ReadAvailable()
    {
        foreach (var c in _cpus) c.Drained = false;
        while (true)
        {
            CpuState? best = null;
            foreach (var c in _cpus)
            {
                while (!c.HasRecord && !c.Drained) Fill(c);
                if (c.HasRecord && (best is null || c.Records[c.Next].Timestamp < best.Records[best.Next].Timestamp)) best = c;
            }
            if (best is null) yield break;
            yield return best.Records[best.Next++];
        }
    }

    private void Fill(CpuState c)
    {
        c.Records.Clear();
        c.Next = 0;
        int n = (int)Interop.RetryOnEintr(() => ReadPage(c.Fd));
        if (n < 0)
        {
            int errno = Errno.Last;
            if (errno == Errno.EAGAIN) { c.Drained = true; return; }
            // A CPU that went offline, or an instance removed under us: no more data from it.
            if (errno is Errno.ENODEV or Errno.ENOENT) { c.Drained = true; return; }
            throw new KernelDebugException(errno, "read", c.Path);
        }
        if (n == 0) { c.Drained = true; return; }
        c.Pages++;
        PageRead?.Invoke(c.Cpu, _page.AsSpan(0, n));
        long missed = Decoder.DecodePage(_page.AsSpan(0, n), c.Cpu, c.Records);
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
            foreach (var r in ReadAvailable())
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
            foreach (var r in ReadAvailable())
            {
                if (token.IsCancellationRequested) return delivered;
                if (!sink(r)) return delivered;
                delivered++;
                if (options.Count is long n && delivered >= n) return delivered;
                // Under a steady load the buffer never runs dry: check the clock inside the round too.
                if ((delivered & 1023) == 0 && !timeUp && options.Duration is TimeSpan dd0 && clock.Elapsed >= dd0) return delivered;
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
        foreach (var c in _cpus) c?.Fd?.Dispose();
    }
}
