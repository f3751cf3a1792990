using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Management.Automation;
using System.Text;
using KernelDebug.Native;
using Microsoft.Win32.SafeHandles;

namespace KernelDebug.Ftrace;

/// <summary>
/// Reads trace-cmd's trace.dat files, versions 6 and 7 (sections, options chains, zstd/zlib compressed sections and
/// page chunks), as described in trace-cmd.dat.v6(5) and trace-cmd.dat.v7(5). The metadata (formats, cmdlines) is
/// read at open; the pages are read as the records are enumerated, one page (or one compressed chunk) per CPU at a
/// time, and decoded by the live decoder (RingBufferLayout, TraceRecordDecoder).
/// </summary>
public sealed class TraceDatReader : IDisposable
{
    private static readonly byte[] Magic = { 0x17, 0x08, 0x44 };
    private const int OptDone = 0, OptDate = 1, OptBuffer = 3, OptTraceClock = 4, OptUname = 5, OptOffset = 7,
        OptCpuCount = 8, OptVersion = 9, OptTsc2Nsec = 14, OptHeaderInfo = 16, OptFtraceEvents = 17, OptEventFormats = 18,
        OptCmdlines = 21, OptBufferText = 22;
    private const ushort SectionCompressed = 1;

    private readonly SafeFileHandle _file;
    private readonly long _length;
    private readonly Dictionary<int, TraceEventFormat> _formats = new();
    private readonly List<TraceDatBuffer> _buffers = new();
    private readonly Dictionary<int, long> _sections = new();
    private string _headerPage = "", _headerEvent = "";
    private string _cmdlines = "";
    private long _tsOffset;
    private uint _tscMult, _tscShift;
    private string? _clock, _uname, _version, _compression, _compressionVersion;
    private int _cpuCount;
    private bool _v6ClockFollows;

    public TraceDatReader(string path)
    {
        Path = path;
        try { _file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read); }
        catch (FileNotFoundException e) { throw new KernelDebugException($"No trace.dat at {path}.", "TraceDatNotFound", ErrorCategory.ObjectNotFound, e) { Target = path }; }
        catch (DirectoryNotFoundException e) { throw new KernelDebugException($"No trace.dat at {path}.", "TraceDatNotFound", ErrorCategory.ObjectNotFound, e) { Target = path }; }
        catch (UnauthorizedAccessException e) { throw new KernelDebugException($"Cannot read {path}: {e.Message}", "TraceDatAccessDenied", ErrorCategory.PermissionDenied, e) { Target = path }; }
        _length = RandomAccess.GetLength(_file);
        try { ReadHeaders(); }
        catch (Exception e) when (e is EndOfStreamException or ArgumentOutOfRangeException or OverflowException or InvalidDataException)
        {
            _file.Dispose();
            throw Invalid($"it is truncated or damaged ({e.Message})", e);
        }
        catch
        {
            _file.Dispose();
            throw;
        }
        var layout = RingBufferLayout.Parse(_headerPage, _headerEvent, PageSize);
        Layout = layout;
        Info = new TraceDatInfo
        {
            Path = path, FileVersion = FileVersion, BigEndian = false, LongSize = LongSize, PageSize = PageSize,
            Compression = _compression, CompressionVersion = _compressionVersion, CpuCount = _cpuCount, TraceClock = _clock,
            Uname = _uname, TraceCmdVersion = _version, TimestampOffset = _tsOffset, EventFormatCount = _formats.Count,
            Buffers = _buffers.ToArray(),
        };
    }

    public string Path { get; }
    public int FileVersion { get; private set; }
    public int LongSize { get; private set; }
    public int PageSize { get; private set; }
    public TraceDatInfo Info { get; }
    public RingBufferLayout Layout { get; }
    public IReadOnlyDictionary<int, TraceEventFormat> Formats => _formats;
    public string HeaderPage => _headerPage;
    public string HeaderEvent => _headerEvent;
    /// <summary>The saved_cmdlines text saved in the file (pid comm per line).</summary>
    public string SavedCmdlines => _cmdlines;
    public IReadOnlyList<TraceDatBuffer> Buffers => _buffers;

    private KernelDebugException Invalid(string why, Exception? inner = null) =>
        new($"{Path} is not a trace.dat this module can read: {why}.", "TraceDatInvalid", ErrorCategory.InvalidData, inner) { Target = Path };

    // ---- metadata ----

    private void ReadHeaders()
    {
        var c = new Cursor(_file, 0, _length);
        var magic = c.Bytes(10);
        if (!magic.AsSpan(0, 3).SequenceEqual(Magic) || Encoding.ASCII.GetString(magic, 3, 7) != "tracing")
            throw Invalid("it does not start with trace-cmd's magic (\\x17\\x08\\x44tracing)");
        var version = c.CString();
        if (!int.TryParse(version, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < 6)
            throw Invalid($"file version '{version}' (versions 6 and 7 are supported)");
        if (v > 7) throw Invalid($"file version {v} is newer than 7");
        FileVersion = v;
        if (c.U8() != 0)
            throw new KernelDebugException($"{Path} was recorded on a big-endian machine; only little-endian trace.dat files can be decoded.",
                "TraceDatBigEndian", ErrorCategory.NotImplemented) { Target = Path };
        LongSize = c.U8();
        PageSize = (int)c.U32();
        if (PageSize < 64 || PageSize > 1 << 24) throw Invalid($"page size {PageSize}");
        if (v == 6) ReadV6(c);
        else ReadV7(c);
    }

    private void ReadV6(Cursor c)
    {
        ReadHeaderInfo(c);
        ReadFtraceFormats(c);
        ReadEventFormats(c);
        c.Skip(c.U32());              // kallsyms
        c.Skip(c.U32());              // printk formats
        _cmdlines = c.Text((long)c.U64());
        _cpuCount = (int)c.U32();
        var kind = ReadV6Kind(c);
        var top = ReadV6Buffer(c, kind, "", c.Position - 10);
        // A TRACECLOCK option in a version 6 file means the trace_clock text follows the CPU table (u64 size, text).
        if (_v6ClockFollows && kind == "flyrecord" && c.Position + 8 <= _length)
        {
            long size = (long)c.U64();
            if (size > 0 && size < 4096 && c.Position + size <= _length && FtraceInstance.ParseSelected(c.Text(size)) is { Length: > 0 } clock)
            {
                _clock = clock;
                top = new TraceDatBuffer { Name = "", Clock = clock, PageSize = PageSize, Cpus = top.Cpus, SectionOffset = top.SectionOffset };
            }
        }
        // The top-level buffer first, as trace-cmd lists it; instances follow from the BUFFER options.
        var instances = _buffers.ToList();
        _buffers.Clear();
        _buffers.Add(top);
        foreach (var b in instances)
        {
            var bc = new Cursor(_file, b.SectionOffset, _length);
            _buffers.Add(ReadV6Buffer(bc, ReadV6Kind(bc), b.Name, b.SectionOffset));
        }
    }

    /// <summary>"options  ", then "flyrecord" or "latency  ": reads the options where present and returns the kind.</summary>
    private string ReadV6Kind(Cursor c)
    {
        var kind = Encoding.ASCII.GetString(c.Bytes(10)).TrimEnd('\0', ' ');
        if (kind == "options")
        {
            while (true)
            {
                int id = c.U16();
                if (id == OptDone) break;
                var data = c.Bytes(c.U32());
                HandleOption(id, data);
            }
            kind = Encoding.ASCII.GetString(c.Bytes(10)).TrimEnd('\0', ' ');
        }
        if (kind != "flyrecord" && kind != "latency") throw Invalid($"'{kind}' where flyrecord or latency belongs");
        return kind;
    }

    private TraceDatBuffer ReadV6Buffer(Cursor c, string kind, string name, long at)
    {
        if (kind == "latency") return new TraceDatBuffer { Name = name, Clock = _clock, PageSize = PageSize, IsLatency = true, SectionOffset = at };
        var cpus = new List<TraceDatCpu>();
        for (int i = 0; i < _cpuCount; i++) cpus.Add(CheckedCpu(i, (long)c.U64(), (long)c.U64()));
        return new TraceDatBuffer { Name = name, Clock = _clock, PageSize = PageSize, Cpus = cpus, SectionOffset = at };
    }

    private TraceDatCpu CheckedCpu(int cpu, long offset, long size)
    {
        if (size < 0 || offset < 0 || (size > 0 && offset + size > _length))
            throw Invalid($"CPU {cpu}'s data ({size} bytes at {offset}) lies past the end of the file ({_length} bytes); it may be truncated");
        return new TraceDatCpu(cpu, offset, size);
    }

    private void ReadV7(Cursor c)
    {
        _compression = c.CString();
        _compressionVersion = c.CString();
        if (_compression is "none" or "") { _compression = null; _compressionVersion = null; }
        else if (_compression is not ("zstd" or "zlib"))
            throw Invalid($"its sections are compressed with '{_compression}' (zstd and zlib are supported)");
        long options = (long)c.U64();
        var seen = new HashSet<long>();
        while (options != 0 && seen.Add(options)) options = ReadOptionsSection(options);
        if (!_sections.ContainsKey(OptHeaderInfo)) throw Invalid("it has no header info section");
        foreach (var (id, offset) in _sections.OrderBy(s => s.Key))
        {
            var sc = OpenSection(offset, id);
            switch (id)
            {
                case OptHeaderInfo: ReadHeaderInfo(sc); break;
                case OptFtraceEvents: ReadFtraceFormats(sc); break;
                case OptEventFormats: ReadEventFormats(sc); break;
                case OptCmdlines: _cmdlines = sc.Text((long)sc.U64()); break;
            }
        }
    }

    /// <summary>Reads one options section; returns the offset of the next one (0: none).</summary>
    private long ReadOptionsSection(long offset)
    {
        var c = OpenSection(offset, OptDone);
        while (true)
        {
            int id = c.U16();
            var data = c.Bytes(c.U32());
            if (id == OptDone) return data.Length >= 8 ? (long)BinaryPrimitives.ReadUInt64LittleEndian(data) : 0;
            HandleOption(id, data);
        }
    }

    /// <summary>A cursor on a section's content (after its header), decompressed when the section is.</summary>
    private Cursor OpenSection(long offset, int expectedId)
    {
        var c = new Cursor(_file, offset, _length);
        int id = c.U16();
        int flags = c.U16();
        c.U32();                      // description: a string id
        long size = (long)c.U64();
        if (id != expectedId) throw Invalid($"section {id} at offset {offset} where section {expectedId} belongs");
        if ((flags & SectionCompressed) == 0) return c;
        int zsize = (int)c.U32(), usize = (int)c.U32();
        var data = Decompress(c.Bytes(zsize), usize);
        return new Cursor(data);
    }

    private byte[] Decompress(byte[] input, int size)
    {
        var output = new byte[size];
        int n;
        switch (_compression)
        {
            case "zstd":
                using (var d = new ZstdSharp.Decompressor()) n = d.Unwrap(input, output, 0);
                break;
            case "zlib":
                using (var z = new ZLibStream(new MemoryStream(input), CompressionMode.Decompress))
                {
                    n = 0;
                    int r;
                    while (n < size && (r = z.Read(output, n, size - n)) > 0) n += r;
                }
                break;
            default: throw Invalid("a section is marked compressed but the file names no compression");
        }
        if (n != size) throw Invalid($"a compressed block gave {n} bytes, its header says {size}");
        return output;
    }

    private void HandleOption(int id, byte[] data)
    {
        switch (id)
        {
            case OptDate:
                // Microseconds between the trace clock and the time of day, as "0x..." text.
                if (TryNumber(CString(data, 0), out long us)) _tsOffset += us * 1000;
                break;
            case OptOffset:
                if (TryNumber(CString(data, 0), out long ns)) _tsOffset += ns;
                break;
            case OptTraceClock:
                _v6ClockFollows = true;
                _clock = FtraceInstance.ParseSelected(CString(data, 0)) is { Length: > 0 } sel ? sel : _clock;
                break;
            case OptUname: _uname = CString(data, 0); break;
            case OptVersion: _version = CString(data, 0); break;
            case OptCpuCount: if (data.Length >= 4 && _cpuCount == 0) _cpuCount = BinaryPrimitives.ReadInt32LittleEndian(data); break;
            case OptTsc2Nsec:
                if (data.Length >= 16)
                {
                    _tscMult = BinaryPrimitives.ReadUInt32LittleEndian(data);
                    _tscShift = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(4));
                    _tsOffset += BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(8));
                }
                break;
            case OptBuffer or OptBufferText:
                _buffers.Add(ParseBufferOption(id, data));
                break;
            case >= OptHeaderInfo and <= OptCmdlines or 23 or 25:
                if (data.Length >= 8) _sections[id] = (long)BinaryPrimitives.ReadUInt64LittleEndian(data);
                break;
        }
    }

    private TraceDatBuffer ParseBufferOption(int id, byte[] data)
    {
        var c = new Cursor(data);
        long offset = (long)c.U64();
        var name = c.CString();
        if (FileVersion < 7) return new TraceDatBuffer { Name = name, SectionOffset = offset, PageSize = PageSize };
        var clock = c.CString();
        if (name.Length == 0 && _clock is null) _clock = clock;
        if (id == OptBufferText) return new TraceDatBuffer { Name = name, Clock = clock, IsLatency = true, SectionOffset = offset, PageSize = PageSize };
        int pageSize = (int)c.U32();
        int count = (int)c.U32();
        var cpus = new List<TraceDatCpu>(count);
        for (int i = 0; i < count; i++) cpus.Add(CheckedCpu((int)c.U32(), (long)c.U64(), (long)c.U64()));
        // The section header says whether the pages are compressed.
        bool compressed = false;
        if (offset > 0 && offset + 4 <= _length)
        {
            var h = new byte[4];
            RandomAccess.Read(_file, h, offset);
            compressed = (BinaryPrimitives.ReadUInt16LittleEndian(h.AsSpan(2)) & SectionCompressed) != 0;
        }
        return new TraceDatBuffer { Name = name, Clock = clock, PageSize = pageSize > 0 ? pageSize : PageSize, Cpus = cpus, Compressed = compressed, SectionOffset = offset };
    }

    private void ReadHeaderInfo(Cursor c)
    {
        if (c.CString() != "header_page") throw Invalid("no header_page where it belongs");
        _headerPage = c.Text((long)c.U64());
        if (c.CString() != "header_event") throw Invalid("no header_event where it belongs");
        _headerEvent = c.Text((long)c.U64());
    }

    private void ReadFtraceFormats(Cursor c)
    {
        uint n = c.U32();
        for (uint i = 0; i < n; i++) AddFormat("ftrace", c.Text((long)c.U64()));
    }

    private void ReadEventFormats(Cursor c)
    {
        uint systems = c.U32();
        for (uint s = 0; s < systems; s++)
        {
            var system = c.CString();
            uint n = c.U32();
            for (uint i = 0; i < n; i++) AddFormat(system, c.Text((long)c.U64()));
        }
    }

    private void AddFormat(string system, string text)
    {
        var f = TraceEventFormat.Parse(system, text);
        if (f.Id != 0) _formats[f.Id] = f;
    }

    private static string CString(byte[] data, int at)
    {
        int end = Array.IndexOf(data, (byte)0, at);
        return Encoding.UTF8.GetString(data, at, (end < 0 ? data.Length : end) - at);
    }

    private static bool TryNumber(string s, out long value)
    {
        s = s.Trim();
        bool neg = s.StartsWith('-');
        if (neg) s = s[1..];
        bool ok = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? long.TryParse(s[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out value)
            : long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out value);
        if (neg) value = -value;
        return ok;
    }

    // ---- records ----

    /// <summary>The buffer named <paramref name="name"/> ("" the top level), or null.</summary>
    public TraceDatBuffer? GetBuffer(string name) => _buffers.FirstOrDefault(b => b.Name == name);

    /// <summary>
    /// The records of the given buffers (all flyrecord buffers when null), merged in timestamp order across CPUs and
    /// buffers, as trace-cmd report prints them. Holds one decoded page (or one decompressed chunk) per CPU.
    /// </summary>
    public IEnumerable<TraceRecord> ReadRecords(IEnumerable<TraceDatBuffer>? buffers = null, CommCache? comms = null)
    {
        var chosen = (buffers ?? _buffers).Where(b => !b.IsLatency).ToList();
        // Comms as trace-cmd names them: from the file's saved_cmdlines only, not learned from sched_switch.
        comms ??= CommCache.FromText(_cmdlines, learn: false);
        var sources = new List<CpuSource>();
        foreach (var b in chosen)
        {
            var layout = b.PageSize == Layout.PageSize ? Layout : RingBufferLayout.Parse(_headerPage, _headerEvent, b.PageSize);
            var decoder = new TraceRecordDecoder(layout, comms, TraceClock.None, id => _formats.TryGetValue(id, out var f) ? f : null);
            _decoders.Add(decoder);
            foreach (var cpu in b.Cpus)
                if (cpu.Size > 0) sources.Add(new CpuSource(this, b, cpu, decoder));
        }
        try
        {
            while (true)
            {
                CpuSource? best = null;
                foreach (var s in sources)
                {
                    s.EnsureRecord();
                    if (s.HasRecord && (best is null || s.Current.Timestamp < best.Current.Timestamp)) best = s;
                }
                if (best is null) yield break;
                var r = best.Take();
                yield return Adjust(r, best.Buffer.Name);
            }
        }
        finally
        {
            foreach (var s in sources) s.Dispose();
        }
    }

    private readonly List<TraceRecordDecoder> _decoders = new();

    /// <summary>Records whose id had no format in the file (counted, not emitted), over the enumerations so far.</summary>
    public long UnknownEvents => _decoders.Sum(d => d.UnknownEvents);

    private TraceRecord Adjust(TraceRecord r, string buffer)
    {
        if (_tscMult == 0 && _tsOffset == 0 && buffer.Length == 0) return r;
        ulong ts = r.Timestamp;
        if (_tscMult != 0) ts = (ulong)((UInt128)ts * _tscMult >> (int)_tscShift);
        ts = (ulong)((long)ts + _tsOffset);
        r.Relocate(ts, buffer.Length == 0 ? null : buffer);
        return r;
    }

    /// <summary>Raw pages of one CPU of a buffer, in file order (decompressed when the buffer is compressed).</summary>
    public IEnumerable<ReadOnlyMemory<byte>> ReadPages(TraceDatBuffer buffer, TraceDatCpu cpu)
    {
        int pageSize = buffer.PageSize;
        if (!buffer.Compressed)
        {
            var page = new byte[pageSize];
            for (long off = 0; off < cpu.Size; off += pageSize)
            {
                int want = (int)Math.Min(pageSize, cpu.Size - off);
                int n = RandomAccess.Read(_file, page.AsSpan(0, want), cpu.Offset + off);
                if (n < want) throw Invalid($"CPU {cpu.Cpu}'s data ends early");
                if (want < pageSize) Array.Clear(page, want, pageSize - want);
                yield return page;
            }
            yield break;
        }
        // Compressed: u32 chunk count, then per chunk u32 compressed size, u32 size, data.
        var c = new Cursor(_file, cpu.Offset, _length);
        uint chunks = c.U32();
        for (uint i = 0; i < chunks; i++)
        {
            int zsize = (int)c.U32(), size = (int)c.U32();
            var data = Decompress(c.Bytes(zsize), size);
            for (int off = 0; off + pageSize <= data.Length; off += pageSize) yield return data.AsMemory(off, pageSize);
        }
    }

    private sealed class CpuSource : IDisposable
    {
        private readonly IEnumerator<ReadOnlyMemory<byte>> _pages;
        private readonly TraceRecordDecoder _decoder;
        private readonly List<TraceRecord> _records = new(256);
        private int _next;
        private bool _done;
        public readonly TraceDatBuffer Buffer;
        public readonly int Cpu;

        public CpuSource(TraceDatReader reader, TraceDatBuffer buffer, TraceDatCpu cpu, TraceRecordDecoder decoder)
        {
            Buffer = buffer;
            Cpu = cpu.Cpu;
            _decoder = decoder;
            _pages = reader.ReadPages(buffer, cpu).GetEnumerator();
        }

        public bool HasRecord => _next < _records.Count;
        public TraceRecord Current => _records[_next];
        public TraceRecord Take() => _records[_next++];

        public void EnsureRecord()
        {
            while (!HasRecord && !_done)
            {
                _records.Clear();
                _next = 0;
                if (!_pages.MoveNext()) { _done = true; return; }
                _decoder.DecodePage(_pages.Current.Span, Cpu, _records);
            }
        }

        public void Dispose() => _pages.Dispose();
    }

    public void Dispose() => _file.Dispose();

    /// <summary>Little-endian reads from the file (positioned reads) or from a decompressed section in memory.</summary>
    private sealed class Cursor
    {
        private readonly SafeFileHandle? _file;
        private readonly byte[]? _data;
        private readonly long _end;
        private readonly byte[] _small = new byte[8];
        public long Position;

        public Cursor(SafeFileHandle file, long position, long end) { _file = file; Position = position; _end = end; }
        public Cursor(byte[] data) { _data = data; _end = data.Length; }

        private void Fill(Span<byte> into)
        {
            if (Position < 0 || Position + into.Length > _end) throw new EndOfStreamException($"{into.Length} bytes at offset {Position} run past the end ({_end})");
            if (_data is not null) _data.AsSpan((int)Position, into.Length).CopyTo(into);
            else
            {
                int got = 0;
                while (got < into.Length)
                {
                    int n = RandomAccess.Read(_file!, into[got..], Position + got);
                    if (n <= 0) throw new EndOfStreamException($"the file ends at offset {Position + got}");
                    got += n;
                }
            }
            Position += into.Length;
        }

        public byte U8() { Fill(_small.AsSpan(0, 1)); return _small[0]; }
        public ushort U16() { Fill(_small.AsSpan(0, 2)); return BinaryPrimitives.ReadUInt16LittleEndian(_small); }
        public uint U32() { Fill(_small.AsSpan(0, 4)); return BinaryPrimitives.ReadUInt32LittleEndian(_small); }
        public ulong U64() { Fill(_small.AsSpan(0, 8)); return BinaryPrimitives.ReadUInt64LittleEndian(_small); }

        public byte[] Bytes(long n)
        {
            if (n < 0 || Position + n > _end) throw new EndOfStreamException($"{n} bytes at offset {Position} run past the end ({_end})");
            var b = new byte[n];
            Fill(b);
            return b;
        }

        public void Skip(long n)
        {
            if (n < 0 || Position + n > _end) throw new EndOfStreamException($"{n} bytes at offset {Position} run past the end ({_end})");
            Position += n;
        }

        public string Text(long n) => Encoding.UTF8.GetString(Bytes(n)).TrimEnd('\0');

        public string CString()
        {
            var sb = new List<byte>(32);
            while (true)
            {
                byte b = U8();
                if (b == 0) break;
                sb.Add(b);
                if (sb.Count > 4096) throw new InvalidDataException("a string runs over 4096 bytes");
            }
            return Encoding.UTF8.GetString(sb.ToArray());
        }
    }
}
