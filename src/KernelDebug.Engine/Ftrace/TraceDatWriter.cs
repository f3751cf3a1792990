using System.Buffers.Binary;
using System.Management.Automation;
using System.Text;
using KernelDebug.Native;

namespace KernelDebug.Ftrace;

/// <summary>
/// Writes a trace.dat (version 6, or 7 uncompressed or zstd/zlib-compressed) that trace-cmd report and KernelShark
/// read. Pages come either raw (copied from trace_pipe_raw: the file then holds exactly what the kernel wrote) or are
/// built from TraceRecords (each record's raw payload where it still has one, else its fields encoded by its format).
/// Pages go to one temporary file per CPU beside the target while the stream runs (bounded memory); Complete writes
/// the header, the formats, the saved cmdlines and the CPU data into the target.
/// </summary>
public sealed class TraceDatWriter : IDisposable
{
    private const int OptDone = 0, OptBuffer = 3, OptTraceClock = 4, OptUname = 5, OptCpuCount = 8, OptVersion = 9,
        OptStrings = 15, OptHeaderInfo = 16, OptFtraceEvents = 17, OptEventFormats = 18, OptKallsyms = 19, OptPrintk = 20,
        OptCmdlines = 21;

    private readonly string _path;
    private readonly RingBufferLayout _layout;
    private readonly Dictionary<int, CpuPages> _cpus = new();
    private readonly Dictionary<int, TraceEventFormat> _formats = new();
    private readonly Dictionary<int, string> _comms = new();
    private bool _completed;

    /// <param name="path">The trace.dat to write (replaced if it exists).</param>
    /// <param name="headerPage">events/header_page text of the kernel the pages come from.</param>
    /// <param name="headerEvent">events/header_event text.</param>
    public TraceDatWriter(string path, string headerPage, string headerEvent, int pageSize)
    {
        _path = Path.GetFullPath(path);
        HeaderPage = headerPage;
        HeaderEvent = headerEvent;
        _layout = RingBufferLayout.Parse(headerPage, headerEvent, pageSize);
        if (_layout.TimestampOffset != 0 || _layout.CommitOffset != 8 || _layout.DataOffset < 16)
            throw new KernelDebugException("This kernel's ring-buffer page header is not the 64-bit layout the trace.dat writer builds pages in.",
                "TraceDatLayoutUnsupported", ErrorCategory.NotImplemented);
        var dir = Path.GetDirectoryName(_path);
        if (dir is not null && !Directory.Exists(dir))
            throw new KernelDebugException($"The directory {dir} does not exist.", "TraceDatDirectoryNotFound", ErrorCategory.ObjectNotFound) { Target = path };
    }

    /// <summary>A writer with this kernel's page layout (tracefs events/header_page, header_event).</summary>
    public static TraceDatWriter ForThisKernel(string path, FtraceInstance? instance = null)
    {
        var root = Host.KernelFileSystems.GetTraceFs();
        var layout = RingBufferLayout.Load(root, instance);
        return new TraceDatWriter(path,
            Host.ControlFile.ReadText(Path.Combine(root, "events", "header_page")),
            Host.ControlFile.ReadText(Path.Combine(root, "events", "header_event")), layout.PageSize);
    }

    public string HeaderPage { get; }
    public string HeaderEvent { get; }
    public int PageSize => _layout.PageSize;
    /// <summary>The selected trace clock of the pages (local, mono...), saved as the TRACECLOCK option.</summary>
    public string? Clock { get; set; }
    /// <summary>The buffer name saved in version 7 files ("" the top level).</summary>
    public string BufferName { get; set; } = "";
    /// <summary>At least this many CPUs in the file (CPUs without data get empty entries).</summary>
    public int CpuCount { get; set; }
    /// <summary>saved_cmdlines text to store; when null, the comms of the records written are stored.</summary>
    public string? SavedCmdlines { get; set; }
    public string? Uname { get; set; }
    public long RecordsWritten { get; private set; }
    public long PagesWritten => _cpus.Values.Sum(c => c.Pages);
    /// <summary>Records written at the previous record's time because their CPU's records came out of order.</summary>
    public long OutOfOrder { get; private set; }

    /// <summary>Adds an event format to the file (the events of raw pages; records add theirs).</summary>
    public void AddFormat(TraceEventFormat format)
    {
        if (format.Id != 0 && format.Text.Length > 0) _formats[format.Id] = format;
    }

    /// <summary>Appends one raw ring-buffer page of <paramref name="cpu"/> (a read of trace_pipe_raw), unchanged.</summary>
    public void WritePage(int cpu, ReadOnlySpan<byte> page)
    {
        var c = Cpu(cpu);
        c.FlushBuilding();
        c.AppendPage(page);
    }

    /// <summary>Appends a record to its CPU's pages. Its format is the record's own, or <paramref name="format"/>.</summary>
    public void WriteRecord(TraceRecord record, TraceEventFormat? format = null)
    {
        format ??= record.Format ?? throw new KernelDebugException(
            $"The record {record.FullName} at {record.TimestampText} has no event format (records parsed from the text trace cannot be saved as binary).",
            "TraceRecordNoFormat", ErrorCategory.InvalidData);
        if (format.Text.Length == 0)
            throw new KernelDebugException($"The format of {format.FullName} has no text to save.", "TraceRecordNoFormat", ErrorCategory.InvalidData);
        _formats.TryAdd(format.Id, format);
        var payload = record.RawPayload is { } raw && raw.Length >= 2 && BinaryPrimitives.ReadUInt16LittleEndian(raw) == format.Id
            ? raw : TraceRecordEncoder.Encode(record, format);
        if (!_comms.ContainsKey(record.ProcessId) && record.Comm is { Length: > 0 } comm && comm != "<...>" && record.ProcessId != 0)
            _comms[record.ProcessId] = comm;
        var c = Cpu(record.Cpu);
        ulong ts = record.Timestamp;
        if (c.Started && ts < c.LastTimestamp) { ts = c.LastTimestamp; OutOfOrder++; }
        c.Append(payload, ts);
        RecordsWritten++;
    }

    private CpuPages Cpu(int cpu)
    {
        if (cpu < 0 || cpu > 4095) throw new KernelDebugException($"CPU {cpu} is out of range.", "TraceDatBadCpu", ErrorCategory.InvalidArgument);
        if (!_cpus.TryGetValue(cpu, out var c)) _cpus[cpu] = c = new CpuPages(_path + $".cpu{cpu}.tmp", _layout);
        return c;
    }

    /// <summary>Writes the file: version 6, or 7 with <paramref name="compression"/> (null/none, zstd, zlib).</summary>
    public void Complete(int version = 6, string? compression = null)
    {
        if (_completed) return;
        if (version is not (6 or 7)) throw new KernelDebugException($"trace.dat version {version} cannot be written (6 or 7).", "TraceDatVersion", ErrorCategory.InvalidArgument);
        if (compression is "none" or "") compression = null;
        if (compression is not (null or "zstd" or "zlib"))
            throw new KernelDebugException($"Compression '{compression}' is not available (none, zstd, zlib).", "TraceDatCompression", ErrorCategory.InvalidArgument);
        if (version == 6 && compression is not null)
            throw new KernelDebugException("Version 6 files are not compressed: use -FileVersion 7 with -Compression.", "TraceDatCompression", ErrorCategory.InvalidArgument);
        foreach (var c in _cpus.Values) c.FlushBuilding();
        int cpus = Math.Max(CpuCount, _cpus.Count == 0 ? 1 : _cpus.Keys.Max() + 1);
        var tmp = _path + ".tmp";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16))
            {
                if (version == 6) WriteV6(fs, cpus);
                else new V7(this, fs, cpus, compression).Write();
            }
            File.Move(tmp, _path, overwrite: true);
            _completed = true;
        }
        catch (IOException e)
        {
            TryDelete(tmp);
            throw new KernelDebugException($"Writing {_path} failed: {e.Message}", "TraceDatWriteFailed", ErrorCategory.WriteError, e) { Target = _path };
        }
        catch (UnauthorizedAccessException e)
        {
            TryDelete(tmp);
            throw new KernelDebugException($"Writing {_path} failed: {e.Message}", "TraceDatWriteFailed", ErrorCategory.PermissionDenied, e) { Target = _path };
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
        finally { Cleanup(); }
    }

    private string CmdlinesText()
    {
        if (SavedCmdlines is not null) return SavedCmdlines;
        var sb = new StringBuilder();
        foreach (var (pid, comm) in _comms.OrderBy(p => p.Key)) sb.Append(pid).Append(' ').Append(comm).Append('\n');
        return sb.ToString();
    }

    private string ClockText() => $"[{Clock ?? "local"}]";

    // ---- version 6 ----

    private void WriteV6(FileStream fs, int cpus)
    {
        var w = new Out(fs);
        WriteInitial(w, "6");
        WriteHeaderInfo(w);
        WriteFtraceFormats(w);
        WriteEventFormats(w);
        w.U32(0);                                         // kallsyms: none
        w.U32(0);                                         // printk formats: none
        var cmdlines = Encoding.UTF8.GetBytes(CmdlinesText());
        w.U64((ulong)cmdlines.Length);
        w.Bytes(cmdlines);
        w.U32((uint)cpus);
        w.Bytes(Encoding.ASCII.GetBytes("options  \0"));
        // TRACECLOCK in a version 6 file: the clock text also follows the CPU table.
        w.Option(OptTraceClock, Encoding.ASCII.GetBytes(ClockText() + "\0"));
        if (Uname is not null) w.Option(OptUname, Encoding.UTF8.GetBytes(Uname + "\0"));
        w.Option(OptVersion, Encoding.ASCII.GetBytes(WriterVersion + "\0"));
        var count = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(count, (uint)cpus);
        w.Option(OptCpuCount, count);
        w.U16(OptDone);
        w.Bytes(Encoding.ASCII.GetBytes("flyrecord\0"));
        long table = fs.Position;
        for (int i = 0; i < cpus; i++) { w.U64(0); w.U64(0); }
        var clock = Encoding.ASCII.GetBytes(ClockText());
        w.U64((ulong)clock.Length);
        w.Bytes(clock);
        var entries = WriteCpuData(fs, cpus, null);
        fs.Position = table;
        foreach (var (offset, size) in entries) { w.U64((ulong)offset); w.U64((ulong)size); }
    }

    internal const string WriterVersion = "KernelDebug";

    private void WriteInitial(Out w, string version)
    {
        w.Bytes(new byte[] { 0x17, 0x08, 0x44 });
        w.Bytes(Encoding.ASCII.GetBytes("tracing"));
        w.Bytes(Encoding.ASCII.GetBytes(version + "\0"));
        w.U8(0);                                          // little endian
        w.U8(8);                                          // 64-bit user space
        w.U32((uint)PageSize);
    }

    private void WriteHeaderInfo(Out w)
    {
        w.Bytes(Encoding.ASCII.GetBytes("header_page\0"));
        w.Text64(HeaderPage);
        w.Bytes(Encoding.ASCII.GetBytes("header_event\0"));
        w.Text64(HeaderEvent);
    }

    private void WriteFtraceFormats(Out w)
    {
        var ftrace = _formats.Values.Where(f => f.System == "ftrace").OrderBy(f => f.Id).ToList();
        w.U32((uint)ftrace.Count);
        foreach (var f in ftrace) w.Text64(f.Text);
    }

    private void WriteEventFormats(Out w)
    {
        var systems = _formats.Values.Where(f => f.System != "ftrace").GroupBy(f => f.System).OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
        w.U32((uint)systems.Count);
        foreach (var g in systems)
        {
            w.Bytes(Encoding.UTF8.GetBytes(g.Key + "\0"));
            var list = g.OrderBy(f => f.Id).ToList();
            w.U32((uint)list.Count);
            foreach (var f in list) w.Text64(f.Text);
        }
    }

    /// <summary>Copies each CPU's pages at a page-aligned offset (compressed in chunks when a compressor is given).</summary>
    private List<(long Offset, long Size)> WriteCpuData(FileStream fs, int cpus, Func<byte[], int, byte[]>? compress)
    {
        var entries = new List<(long, long)>();
        var buffer = new byte[PageSize * ChunkPages];
        for (int cpu = 0; cpu < cpus; cpu++)
        {
            Align(fs);
            long start = fs.Position;
            if (!_cpus.TryGetValue(cpu, out var c) || c.Pages == 0) { entries.Add((start, 0)); continue; }
            c.Stream.Position = 0;
            if (compress is null)
            {
                c.Stream.CopyTo(fs);
            }
            else
            {
                var w = new Out(fs);
                long chunks = (c.Stream.Length + buffer.Length - 1) / buffer.Length;
                w.U32((uint)chunks);
                int n;
                while ((n = ReadFull(c.Stream, buffer)) > 0)
                {
                    var z = compress(buffer, n);
                    w.U32((uint)z.Length);
                    w.U32((uint)n);
                    w.Bytes(z);
                }
            }
            entries.Add((start, fs.Position - start));
        }
        return entries;
    }

    // trace-cmd's default chunk: ten pages.
    private const int ChunkPages = 10;

    private static int ReadFull(Stream s, byte[] buffer)
    {
        int got = 0, n;
        while (got < buffer.Length && (n = s.Read(buffer, got, buffer.Length - got)) > 0) got += n;
        return got;
    }

    private void Align(FileStream fs)
    {
        long aligned = (fs.Position + PageSize - 1) / PageSize * PageSize;
        if (aligned > fs.Position) fs.Write(new byte[aligned - fs.Position]);
    }

    // ---- version 7 ----

    private sealed class V7
    {
        private readonly TraceDatWriter _w;
        private readonly FileStream _fs;
        private readonly int _cpus;
        private readonly string? _compression;
        private readonly MemoryStream _strings = new();
        private readonly Dictionary<string, uint> _stringIds = new();

        public V7(TraceDatWriter w, FileStream fs, int cpus, string? compression)
        {
            _w = w; _fs = fs; _cpus = cpus; _compression = compression;
        }

        private uint Str(string s)
        {
            if (_stringIds.TryGetValue(s, out var id)) return id;
            id = (uint)_strings.Length;
            _strings.Write(Encoding.UTF8.GetBytes(s + "\0"));
            return _stringIds[s] = id;
        }

        private byte[] Compress(byte[] data, int length) => TraceDatCompression.Compress(_compression!, data, length);

        /// <summary>Writes a section (header, then its content, compressed as one block when the file is); returns its offset.</summary>
        private long Section(int id, string description, Action<Out> content, bool compressible = true)
        {
            long at = _fs.Position;
            var body = new MemoryStream();
            content(new Out(body));
            bool compress = compressible && _compression is not null;
            byte[] data;
            if (compress)
            {
                var raw = body.ToArray();
                var z = Compress(raw, raw.Length);
                var b = new MemoryStream();
                var o = new Out(b);
                o.U32((uint)z.Length);
                o.U32((uint)raw.Length);
                o.Bytes(z);
                data = b.ToArray();
            }
            else data = body.ToArray();
            var w = new Out(_fs);
            w.U16((ushort)id);
            w.U16((ushort)(compress ? 1 : 0));
            w.U32(Str(description));
            w.U64((ulong)data.Length);
            w.Bytes(data);
            return at;
        }

        public void Write()
        {
            var w = new Out(_fs);
            _w.WriteInitial(w, "7");
            w.Bytes(Encoding.ASCII.GetBytes((_compression ?? "none") + "\0"));
            w.Bytes(Encoding.ASCII.GetBytes(TraceDatCompression.Version(_compression) + "\0"));
            long optionsAt = _fs.Position;
            w.U64(0);                                 // the first options section, patched below
            long header = Section(OptHeaderInfo, "headers", o => _w.WriteHeaderInfo(o));
            long ftrace = Section(OptFtraceEvents, "ftrace events", o => _w.WriteFtraceFormats(o));
            long events = Section(OptEventFormats, "events format", o => _w.WriteEventFormats(o));
            long kallsyms = Section(OptKallsyms, "kallsyms", o => o.U32(0));
            long printk = Section(OptPrintk, "printk", o => o.U32(0));
            long cmdlines = Section(OptCmdlines, "command lines", o => o.Text64(_w.CmdlinesText()));
            // The flyrecord section: its header, then the CPU data at page-aligned offsets.
            long buffer = _fs.Position;
            w.U16(OptBuffer);
            w.U16((ushort)(_compression is not null ? 1 : 0));
            w.U32(Str("buffer flyrecord"));
            long sizeAt = _fs.Position;
            w.U64(0);
            var entries = _w.WriteCpuData(_fs, _cpus, _compression is null ? null : Compress);
            long end = _fs.Position;
            _fs.Position = sizeAt;
            w.U64((ulong)(end - sizeAt - 8));
            _fs.Position = end;

            long strings = _fs.Position;
            // Every description is known by now: the strings section goes before the options naming it.
            uint optionsDescription = Str("options");
            var stringBytes = _strings.ToArray();
            long stringsAt = Section(OptStrings, "strings", o => o.Bytes(stringBytes), compressible: false);
            long options = _fs.Position;
            var ow = new Out(_fs);
            ow.U16(0);
            ow.U16(0);
            ow.U32(optionsDescription);
            long optSizeAt = _fs.Position;
            ow.U64(0);
            long optStart = _fs.Position;
            void Opt(int id, byte[] data) { ow.U16((ushort)id); ow.U32((uint)data.Length); ow.Bytes(data); }
            byte[] U64(long v) { var b = new byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)v); return b; }
            Opt(OptStrings, U64(stringsAt));
            Opt(OptHeaderInfo, U64(header));
            Opt(OptFtraceEvents, U64(ftrace));
            Opt(OptEventFormats, U64(events));
            Opt(OptKallsyms, U64(kallsyms));
            Opt(OptPrintk, U64(printk));
            Opt(OptCmdlines, U64(cmdlines));
            Opt(OptTraceClock, Encoding.ASCII.GetBytes(_w.ClockText() + "\0"));
            if (_w.Uname is not null) Opt(OptUname, Encoding.UTF8.GetBytes(_w.Uname + "\0"));
            Opt(OptVersion, Encoding.ASCII.GetBytes(WriterVersion + "\0"));
            var cpuCount = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(cpuCount, (uint)_cpus);
            Opt(OptCpuCount, cpuCount);
            var b = new MemoryStream();
            var bo = new Out(b);
            bo.U64((ulong)buffer);
            bo.Bytes(Encoding.UTF8.GetBytes(_w.BufferName + "\0"));
            bo.Bytes(Encoding.ASCII.GetBytes((_w.Clock ?? "local") + "\0"));
            bo.U32((uint)_w.PageSize);
            bo.U32((uint)_cpus);
            for (int i = 0; i < _cpus; i++) { bo.U32((uint)i); bo.U64((ulong)entries[i].Offset); bo.U64((ulong)entries[i].Size); }
            Opt(OptBuffer, b.ToArray());
            Opt(OptDone, U64(0));
            long optEnd = _fs.Position;
            _fs.Position = optSizeAt;
            ow.U64((ulong)(optEnd - optStart));
            _fs.Position = optionsAt;
            ow.U64((ulong)options);
            _fs.Position = optEnd;
            _ = strings;
        }
    }

    // ---- pages ----

    /// <summary>One CPU's pages: a temporary file of whole pages, and the page being filled from records.</summary>
    private sealed class CpuPages : IDisposable
    {
        private readonly RingBufferLayout _layout;
        private readonly byte[] _page;
        private int _used;                 // bytes of event data in _page
        private ulong _pageStart;
        public readonly FileStream Stream;
        public readonly string Path;
        public long Pages;
        public bool Started;
        public ulong LastTimestamp;

        public CpuPages(string path, RingBufferLayout layout)
        {
            Path = path;
            _layout = layout;
            _page = new byte[layout.PageSize];
            Stream = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
        }

        private int Capacity => _layout.PageSize - _layout.DataOffset;

        public void AppendPage(ReadOnlySpan<byte> page)
        {
            if (page.Length >= _layout.PageSize) Stream.Write(page[.._layout.PageSize]);
            else { Stream.Write(page); Stream.Write(new byte[_layout.PageSize - page.Length]); }
            Pages++;
        }

        /// <summary>Adds an event: its header (with a TIME_EXTEND first when the delta is over 27 bits), then the payload padded to 4 bytes.</summary>
        public void Append(byte[] payload, ulong ts)
        {
            int len = (payload.Length + 3) & ~3;
            bool small = len <= 28 * 4 && len > 0;
            int eventSize = (small ? 4 : 8) + len;
            if (eventSize > Capacity) throw new KernelDebugException($"An event of {payload.Length} bytes does not fit a {_layout.PageSize}-byte page.", "TraceDatEventTooLarge", ErrorCategory.InvalidData);
            ulong delta = _used == 0 ? 0 : ts - LastTimestamp;
            int deltaBits = _layout.TimeDeltaBits;
            bool extend = delta >= 1UL << deltaBits;
            if (_used + eventSize + (extend ? 8 : 0) > Capacity)
            {
                FlushBuilding();
                delta = 0;
                extend = false;
            }
            if (_used == 0) _pageStart = ts;
            var span = _page.AsSpan(_layout.DataOffset + _used);
            int tb = _layout.TypeLenBits;
            if (extend)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)_layout.TimeExtendType | (uint)((delta & ((1UL << deltaBits) - 1)) << tb));
                BinaryPrimitives.WriteUInt32LittleEndian(span[4..], (uint)(delta >> deltaBits));
                span = span[8..];
                _used += 8;
                delta = 0;
            }
            if (small)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)(len / 4) | (uint)(delta << tb));
                payload.CopyTo(span[4..]);
                span.Slice(4 + payload.Length, len - payload.Length).Clear();
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)(delta << tb));
                BinaryPrimitives.WriteUInt32LittleEndian(span[4..], (uint)(len + 4));
                payload.CopyTo(span[8..]);
                span.Slice(8 + payload.Length, len - payload.Length).Clear();
            }
            _used += eventSize;
            LastTimestamp = ts;
            Started = true;
        }

        public void FlushBuilding()
        {
            if (_used == 0) return;
            BinaryPrimitives.WriteUInt64LittleEndian(_page.AsSpan(_layout.TimestampOffset), _pageStart);
            if (_layout.CommitSize == 8) BinaryPrimitives.WriteUInt64LittleEndian(_page.AsSpan(_layout.CommitOffset), (ulong)_used);
            else BinaryPrimitives.WriteUInt32LittleEndian(_page.AsSpan(_layout.CommitOffset), (uint)_used);
            _page.AsSpan(_layout.DataOffset + _used).Clear();
            Stream.Write(_page);
            Pages++;
            _used = 0;
        }

        public void Dispose() => Stream.Dispose();
    }

    /// <summary>Little-endian writes.</summary>
    private readonly struct Out
    {
        private readonly Stream _s;
        public Out(Stream s) => _s = s;
        public void U8(byte v) => _s.WriteByte(v);
        public void U16(int v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v); _s.Write(b); }
        public void U32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); _s.Write(b); }
        public void U64(ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); _s.Write(b); }
        public void Bytes(ReadOnlySpan<byte> b) => _s.Write(b);
        public void Text64(string s) { var b = Encoding.UTF8.GetBytes(s); U64((ulong)b.Length); Bytes(b); }
        public void Option(int id, byte[] data) { U16(id); U32((uint)data.Length); Bytes(data); }
    }

    private void Cleanup()
    {
        foreach (var c in _cpus.Values) c.Dispose();
        _cpus.Clear();
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Discards the temporary pages; the target is left as it was unless Complete succeeded.</summary>
    public void Dispose() => Cleanup();
}

/// <summary>zstd (ZstdSharp) and zlib (System.IO.Compression) blocks as trace-cmd writes and reads them.</summary>
internal static class TraceDatCompression
{
    public static byte[] Compress(string name, byte[] data, int length)
    {
        switch (name)
        {
            case "zstd":
                using (var c = new ZstdSharp.Compressor()) return c.Wrap(data.AsSpan(0, length)).ToArray();
            case "zlib":
            {
                var ms = new MemoryStream();
                using (var z = new System.IO.Compression.ZLibStream(ms, System.IO.Compression.CompressionLevel.SmallestSize, leaveOpen: true))
                    z.Write(data, 0, length);
                return ms.ToArray();
            }
            default: throw new ArgumentException(name);
        }
    }

    /// <summary>The version string saved beside the algorithm's name (trace-cmd only checks it is there).</summary>
    public static string Version(string? name) => name switch
    {
        "zstd" => "1.5.7",
        "zlib" => "1.3",
        _ => "",
    };
}
