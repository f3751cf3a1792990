using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Ftrace;

/// <summary>
/// Turns ring-buffer pages into TraceRecords with the events' format files: common_* header, then every field by its
/// kind (numbers by size and sign, char arrays and __data_loc/__rel_loc strings, other arrays as typed arrays).
/// Not thread-safe: one decoder per reader thread.
/// </summary>
public sealed class TraceRecordDecoder
{
    private readonly RingBufferLayout _layout;
    private readonly CommCache _comms;

    /// <summary>The pid → comm lookup the records are named with.</summary>
    public CommCache Comms => _comms;
    private readonly TraceClock _clock;

    /// <summary>The trace clock the timestamps are of.</summary>
    public TraceClock Clock => _clock;
    private readonly Func<int, TraceEventFormat?> _formats;
    private readonly List<RawEvent> _scratch = new(256);
    private readonly Dictionary<int, TraceEventFormat> _byId = new();

    public TraceRecordDecoder(RingBufferLayout layout, CommCache comms, TraceClock clock, Func<int, TraceEventFormat?>? formats = null)
    {
        _layout = layout;
        _comms = comms;
        _clock = clock;
        _formats = formats ?? TraceEventCatalog.GetFormat;
    }

    public RingBufferLayout Layout => _layout;

    /// <summary>Records of events whose id has no format (the event was deleted): counted, not emitted.</summary>
    public long UnknownEvents { get; private set; }

    /// <summary>Decodes one page; returns the page header's missed-events count (0 none, -1 some, unknown how many).</summary>
    public long DecodePage(ReadOnlySpan<byte> page, int cpu, List<TraceRecord> into)
    {
        _scratch.Clear();
        long missed = RingBufferPage.Walk(_layout, page, _scratch);
        foreach (var e in _scratch)
        {
            var r = Decode(page.Slice(e.Offset, e.Length), e.Timestamp, cpu);
            if (r is not null) into.Add(r);
        }
        return missed;
    }

    /// <summary>
    /// Decodes consecutive pages of one CPU (a copy of trace_pipe_raw, or a CPU's data in a trace.dat), calling
    /// <paramref name="onRecord"/> for each record. Returns the sum of the pages' missed-events counts.
    /// </summary>
    public long DecodePages(byte[] pages, int cpu, Action<TraceRecord> onRecord)
    {
        long missed = 0;
        var list = new List<TraceRecord>(256);
        int size = _layout.PageSize;
        for (int off = 0; off + size <= pages.Length; off += size)
        {
            list.Clear();
            long m = DecodePage(pages.AsSpan(off, size), cpu, list);
            if (m > 0) missed += m;
            foreach (var r in list) onRecord(r);
        }
        return missed;
    }

    /// <summary>Decodes one event's payload (starting at common_type).</summary>
    public TraceRecord? Decode(ReadOnlySpan<byte> data, ulong timestamp, int cpu)
    {
        if (data.Length < 2) return null;
        int id = BinaryPrimitives.ReadUInt16LittleEndian(data);
        // Cache per decoder: the catalog's lookup takes a lock on a miss and rescans; a hit here costs one probe.
        if (!_byId.TryGetValue(id, out var format))
        {
            format = _formats(id);
            if (format is not null) _byId[id] = format;
        }
        if (format is null) { UnknownEvents++; return null; }
        int pid = format.CommonPid is { } p && p.Offset + 4 <= data.Length ? BinaryPrimitives.ReadInt32LittleEndian(data[p.Offset..]) : 0;
        byte flags = format.CommonFlags is { } f && f.Offset < data.Length ? data[f.Offset] : (byte)0;
        byte preempt = format.CommonPreemptCount is { } pc && pc.Offset < data.Length ? data[pc.Offset] : (byte)0;
        var comm = _comms.Get(pid);
        if (format.CommPidPairs.Length == 0)
        {
            // Fields decode on first use, from a copy of the payload (the page buffer is reused).
            return new TraceRecord(format, data.ToArray(), _clock)
            {
                Timestamp = timestamp, Cpu = cpu, ProcessId = pid, Comm = comm, Flags = flags, PreemptCount = preempt,
            };
        }
        // Events naming other tasks (sched_switch, sched_wakeup, fork) teach the comm cache now, in stream order.
        var fields = format.FieldArray;
        var values = new object?[fields.Length];
        for (int i = 0; i < values.Length; i++) values[i] = ReadField(fields[i], data);
        _comms.Learn(format, values);
        return new TraceRecord(format, new TraceFieldValues(format.FieldNames, values))
        {
            Timestamp = timestamp,
            Time = _clock.ToDateTime(timestamp),
            Cpu = cpu,
            ProcessId = pid,
            Comm = comm,
            Flags = flags,
            PreemptCount = preempt,
        };
    }

    public static object? ReadField(TraceEventField f, ReadOnlySpan<byte> data)
    {
        switch (f.Kind)
        {
            case TraceFieldKind.Scalar:
                if (f.Offset + f.Size > data.Length) return null;
                return ReadScalar(data.Slice(f.Offset, f.Size), f.Signed, f.Type);
            case TraceFieldKind.Array:
                if (f.Offset + f.Size > data.Length) return null;
                return ReadArray(data.Slice(f.Offset, f.Size), f);
            case TraceFieldKind.FlexibleArray:
                return f.Offset > data.Length ? null : ReadArray(data[f.Offset..], f);
            case TraceFieldKind.DataLocation:
            case TraceFieldKind.RelativeLocation:
            {
                if (f.Offset + 4 > data.Length) return null;
                uint loc = BinaryPrimitives.ReadUInt32LittleEndian(data[f.Offset..]);
                int offset = (int)(loc & 0xffff), length = (int)(loc >> 16);
                if (f.Kind == TraceFieldKind.RelativeLocation) offset += f.Offset + f.Size;
                if (offset + length > data.Length || offset < 0) return null;
                return ReadArray(data.Slice(offset, length), f);
            }
            default:
                return null;
        }
    }

    private static object ReadScalar(ReadOnlySpan<byte> b, bool signed, string type)
    {
        switch (b.Length)
        {
            case 1:
                if (type == "bool") return b[0] != 0;
                return signed ? (object)(sbyte)b[0] : b[0];
            case 2: return signed ? BinaryPrimitives.ReadInt16LittleEndian(b) : BinaryPrimitives.ReadUInt16LittleEndian(b);
            case 4:
                if (signed) { int v = BinaryPrimitives.ReadInt32LittleEndian(b); return (uint)(v + 1) < BoxedInts.Length ? BoxedInts[v + 1] : v; }
                else { uint v = BinaryPrimitives.ReadUInt32LittleEndian(b); return v < BoxedUInts.Length ? BoxedUInts[v] : v; }
            case 8:
                if (signed) { long v = BinaryPrimitives.ReadInt64LittleEndian(b); return (ulong)(v + 1) < (ulong)BoxedLongs.Length ? BoxedLongs[v + 1] : v; }
                else { ulong v = BinaryPrimitives.ReadUInt64LittleEndian(b); return v < (ulong)BoxedULongs.Length ? BoxedULongs[v] : v; }
            default: return b.ToArray();
        }
    }

    // Small numbers (pids of kernel threads, priorities, flags, fds, return codes, -1) dominate trace fields:
    // shared boxes save an allocation each.
    private const int BoxCache = 1024;
    private static readonly object[] BoxedInts = Enumerable.Range(-1, BoxCache + 1).Select(i => (object)i).ToArray();
    private static readonly object[] BoxedUInts = Enumerable.Range(0, BoxCache).Select(i => (object)(uint)i).ToArray();
    private static readonly object[] BoxedLongs = Enumerable.Range(-1, BoxCache + 1).Select(i => (object)(long)i).ToArray();
    private static readonly object[] BoxedULongs = Enumerable.Range(0, BoxCache).Select(i => (object)(ulong)i).ToArray();

    private static object ReadArray(ReadOnlySpan<byte> b, TraceEventField f)
    {
        if (f.IsString)
        {
            int nul = b.IndexOf((byte)0);
            return Encoding.UTF8.GetString(nul >= 0 ? b[..nul] : b);
        }
        int es = f.ElementSize;
        int n = es > 0 ? b.Length / es : 0;
        switch (es)
        {
            case 2:
                if (f.Signed) { var a = new short[n]; for (int i = 0; i < n; i++) a[i] = BinaryPrimitives.ReadInt16LittleEndian(b[(i * 2)..]); return a; }
                else { var a = new ushort[n]; for (int i = 0; i < n; i++) a[i] = BinaryPrimitives.ReadUInt16LittleEndian(b[(i * 2)..]); return a; }
            case 4:
                if (f.Signed) { var a = new int[n]; for (int i = 0; i < n; i++) a[i] = BinaryPrimitives.ReadInt32LittleEndian(b[(i * 4)..]); return a; }
                else { var a = new uint[n]; for (int i = 0; i < n; i++) a[i] = BinaryPrimitives.ReadUInt32LittleEndian(b[(i * 4)..]); return a; }
            case 8:
                if (f.Signed) { var a = new long[n]; for (int i = 0; i < n; i++) a[i] = BinaryPrimitives.ReadInt64LittleEndian(b[(i * 8)..]); return a; }
                else { var a = new ulong[n]; for (int i = 0; i < n; i++) a[i] = BinaryPrimitives.ReadUInt64LittleEndian(b[(i * 8)..]); return a; }
            default:
                return b.ToArray();
        }
    }
}

/// <summary>pid → comm, as the kernel's text output finds it: saved_cmdlines (re-read at most once a second on a miss), then /proc.</summary>
public sealed class CommCache
{
    private readonly string? _savedCmdlines;
    private readonly Dictionary<int, string> _map = new();
    private long _loadedAt = long.MinValue;
    private readonly bool _useProc;
    private bool _learn = true;

    public CommCache(string? traceFsRoot, bool useProc = true)
    {
        _savedCmdlines = traceFsRoot is null ? null : Path.Combine(traceFsRoot, "saved_cmdlines");
        _useProc = useProc;
        _map[0] = "<idle>";
        Reload();
    }

    /// <summary>A cache from a recorded saved_cmdlines text (fixtures, trace.dat).</summary>
    /// <param name="learn">Also name pids from the comm fields of events (sched_switch...); trace-cmd report does not.</param>
    public static CommCache FromText(string savedCmdlines, bool learn = true)
    {
        var c = new CommCache(null, useProc: false) { _learn = learn };
        c.Parse(savedCmdlines);
        return c;
    }

    public void Set(int pid, string comm) => _map[pid] = comm;

    /// <summary>
    /// Names a pid for the rest of the stream, ahead of saved_cmdlines: for a command this session started, whose comm
    /// it knows, where saved_cmdlines may still hold an earlier owner of the pid. Safe from any thread.
    /// </summary>
    public void Pin(int pid, string comm) => _pinned[pid] = comm.Length > TaskCommLength ? comm[..TaskCommLength] : comm;

    /// <summary>The comm a program gets when it is executed: the file name it was run by, cut to TASK_COMM_LEN - 1.</summary>
    public static string CommOfExecutable(string path)
    {
        var name = Path.GetFileName(path);
        return name.Length > TaskCommLength ? name[..TaskCommLength] : name;
    }

    private const int TaskCommLength = 15;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, string> _pinned = new();

    public string Get(int pid)
    {
        if (!_pinned.IsEmpty && _pinned.TryGetValue(pid, out var c)) return c;
        if (_map.TryGetValue(pid, out c)) return c;
        // A short-lived task is often gone from /proc by the time its records are decoded; the kernel saves its comm
        // in saved_cmdlines when it is switched out. That file is small (saved_cmdlines_size entries): re-read it on
        // a miss, at most every 50 ms.
        bool reloadDue = _savedCmdlines is not null && Environment.TickCount64 - _loadedAt > ReloadAfterMilliseconds;
        // A pid not found is asked again only after the next reload: the kernel saves comms as tasks get scheduled.
        if (!reloadDue && _unknown.Contains(pid)) return _learned.TryGetValue(pid, out var l) ? l : "<...>";
        if (reloadDue)
        {
            Reload();
            _unknown.Clear();
            if (_map.TryGetValue(pid, out c)) return c;
        }
        if (_learned.TryGetValue(pid, out c)) return c;
        string? fromProc = null;
        if (_useProc)
        {
            try { fromProc = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/comm").TrimEnd('\n'); }
            catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        if (fromProc is not null) return _map[pid] = fromProc;
        _unknown.Add(pid);
        return "<...>";
    }

    private const long ReloadAfterMilliseconds = 50;
    private readonly HashSet<int> _unknown = new();
    // Second to saved_cmdlines, as the kernel's own text output has it; used for pids it does not list (yet).
    private readonly Dictionary<int, string> _learned = new();

    /// <summary>Learns comms from the comm/pid field pairs of events (sched_switch prev_/next_, sched_wakeup, fork's child_).</summary>
    internal void Learn(TraceEventFormat format, object?[] values)
    {
        if (!_learn) return;
        var pairs = format.CommPidPairs;
        for (int i = 0; i < pairs.Length; i++)
        {
            var (commIndex, pidIndex) = pairs[i];
            if (values[commIndex] is string comm && comm.Length > 0 && values[pidIndex] is int pid && pid != 0)
                _learned[pid] = comm;
        }
    }

    private void Reload()
    {
        _loadedAt = Environment.TickCount64;
        if (_savedCmdlines is null) return;
        var text = ControlFile.TryReadText(_savedCmdlines, out _);
        if (text is not null) Parse(text);
    }

    private void Parse(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            int sp = line.IndexOf(' ');
            if (sp > 0 && int.TryParse(line.AsSpan(0, sp), NumberStyles.Integer, CultureInfo.InvariantCulture, out int pid))
                _map[pid] = line[(sp + 1)..];
        }
    }
}

/// <summary>Maps trace-clock nanoseconds to wall-clock time for the clocks that are a POSIX clock (mono, mono_raw, boot, tai).</summary>
public sealed class TraceClock
{
    private readonly long? _offsetNs;
    private readonly DateTime _localEpoch;
    private readonly int? _clockId;

    public TraceClock(string? clockName)
    {
        Name = clockName ?? "local";
        int? id = Name switch
        {
            "mono" => Interop.CLOCK_MONOTONIC,
            "mono_raw" => Interop.CLOCK_MONOTONIC_RAW,
            "boot" => Interop.CLOCK_BOOTTIME,
            "tai" => Interop.CLOCK_TAI,
            _ => null,
        };
        _clockId = id;
        if (id is int clock)
        {
            // realtime - clock, taken back to back; the error is the gap between the two calls (well under a microsecond).
            long a = Interop.ClockNanoseconds(clock);
            long real = Interop.ClockNanoseconds(Interop.CLOCK_REALTIME);
            long b = Interop.ClockNanoseconds(clock);
            _offsetNs = real - (a + (b - a) / 2);
            // Local time with the UTC offset of now: one addition per record instead of a time-zone lookup.
            _localEpoch = DateTime.SpecifyKind(DateTime.UnixEpoch + TimeZoneInfo.Local.GetUtcOffset(DateTime.UtcNow), DateTimeKind.Local);
        }
    }

    public string Name { get; }
    public bool HasWallClock => _offsetNs is not null;

    public static TraceClock None { get; } = new("local");

    /// <summary>The clock's reading now, in the units of record timestamps; null for clocks user space cannot read (local, global, counter...).</summary>
    public ulong? Now() => _clockId is int id ? (ulong)Interop.ClockNanoseconds(id) : null;

    public DateTime? ToDateTime(ulong timestamp) =>
        _offsetNs is long off ? _localEpoch.AddTicks(((long)timestamp + off) / 100) : null;
}

/// <summary>A sink that only counts records (benchmarks, Measure-style consumers that need no objects).</summary>
public sealed class RecordCounter
{
    private readonly bool _decodeFields;

    public RecordCounter() { }

    /// <param name="decodeFields">Also decode every record's field values (what a consumer reading fields pays).</param>
    public RecordCounter(bool decodeFields) => _decodeFields = decodeFields;

    public long Count { get; private set; }
    /// <summary>Field values decoded (with decodeFields), so the work cannot be skipped.</summary>
    public long Values { get; private set; }
    public Action<TraceRecord> Add => _add ??= _decodeFields ? r => { Count++; Values += r.Fields.Count; } : _ => Count++;
    private Action<TraceRecord>? _add;
}
