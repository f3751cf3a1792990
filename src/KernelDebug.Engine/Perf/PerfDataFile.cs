using System.Buffers.Binary;
using System.Management.Automation;
using System.Text;
using KernelDebug.Host;
using KernelDebug.Native;
using Microsoft.Win32.SafeHandles;

namespace KernelDebug.Perf;

/// <summary>Constants of the perf.data format (tools/perf/Documentation/perf.data-file-format.txt) and of perf_event.h.</summary>
public static class PerfFormat
{
    public const ulong Magic = 0x32454c4946524550; // "PERFILE2"
    public const ulong MagicV1 = 0x454c494646524550; // "PERFFILE"
    public const int HeaderSize = 104, PipeHeaderSize = 16;

    // sample_type bits
    public const ulong SampleIp = 1, SampleTid = 2, SampleTime = 4, SampleAddr = 8, SampleRead = 0x10, SampleCallchain = 0x20,
        SampleId = 0x40, SampleCpu = 0x80, SamplePeriod = 0x100, SampleStreamId = 0x200, SampleRaw = 0x400, SampleIdentifier = 0x10000;
    public const ulong SampleBranchStack = 0x800, SampleRegsUser = 0x1000, SampleStackUser = 0x2000, SampleDataSrc = 0x8000;
    /// <summary>branch_sample_type bits: the hardware index word in each branch stack (PERF_SAMPLE_BRANCH_HW_INDEX).</summary>
    public const ulong BranchHwIndex = 1UL << 17, BranchCallStack = 1UL << 11;

    // read_format bits
    public const ulong FormatTotalTimeEnabled = 1, FormatTotalTimeRunning = 2, FormatId = 4, FormatGroup = 8, FormatLost = 16;

    // record types
    public const uint RecordMmap = 1, RecordLost = 2, RecordComm = 3, RecordExit = 4, RecordFork = 7, RecordSample = 9, RecordMmap2 = 10,
        RecordAux = 11, RecordLostSamples = 13, RecordKsymbol = 17,
        RecordHeaderAttr = 64, RecordHeaderEventType = 65, RecordHeaderTracingData = 66, RecordHeaderBuildId = 67, RecordFinishedRound = 68,
        RecordIdIndex = 69, RecordAuxtraceInfo = 70, RecordAuxtrace = 71, RecordHeaderFeature = 80, RecordCompressed = 81, RecordFinishedInit = 82,
        RecordCompressed2 = 83, RecordUserMax = 83;

    /// <summary>Bytes that follow a record outside its header.size: the tracing data and AUX trace payloads.</summary>
    public static long PayloadAfter(uint type, ReadOnlySpan<byte> record) => type switch
    {
        RecordHeaderTracingData when record.Length >= 12 => (BinaryPrimitives.ReadUInt32LittleEndian(record[8..]) + 7L) & ~7L,
        RecordAuxtrace when record.Length >= 16 => (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(record[8..]), long.MaxValue / 2),
        _ => 0,
    };

    // header misc
    public const ushort MiscCpuModeMask = 7, MiscKernel = 1, MiscUser = 2, MiscHypervisor = 3, MiscGuestKernel = 4, MiscGuestUser = 5,
        MiscCommExec = 1 << 13, MiscMmapBuildId = 1 << 14;

    // callchain context markers (negative numbers as u64)
    public const ulong ContextHv = unchecked((ulong)-32L), ContextKernel = unchecked((ulong)-128L), ContextUser = unchecked((ulong)-512L),
        ContextGuest = unchecked((ulong)-2048L), ContextGuestKernel = unchecked((ulong)-2176L), ContextGuestUser = unchecked((ulong)-2560L),
        ContextMax = unchecked((ulong)-4095L);

    // feature bits (HEADER_*)
    public const int FeatTracingData = 1, FeatBuildId = 2, FeatHostname = 3, FeatOsRelease = 4, FeatVersion = 5, FeatArch = 6, FeatNrCpus = 7,
        FeatCpuDesc = 8, FeatCpuId = 9, FeatTotalMem = 10, FeatCmdline = 11, FeatEventDesc = 12, FeatCpuTopology = 13, FeatNumaTopology = 14,
        FeatPmuMappings = 16, FeatGroupDesc = 17, FeatSampleTime = 21, FeatClockId = 23, FeatCompressed = 27;
}

/// <summary>One perf_event_attr of a perf.data file, with its ids and name.</summary>
public sealed class PerfDataAttr
{
    public required PerfEventAttr Attr { get; init; }
    public required ulong[] Ids { get; init; }
    public string Name { get; set; } = string.Empty;
    public ulong SampleType => Attr.SampleType;
    public ulong ReadFormat => Attr.ReadFormat;
    public bool SampleIdAll => (Attr.Flags & (ulong)PerfAttrFlags.SampleIdAll) != 0;
}

/// <summary>
/// A perf.data file: the header, the attributes with their ids, the feature sections, and the bounds of the data
/// section. Every offset is checked against the file size, so a truncated or corrupt file is a clear error, never a
/// crash. The file is read with pread into a bounded cache of chunks, not mapped: a mapped file truncated while it
/// is read (perf record or Start-PerfRecord writing the same path) kills the process with SIGBUS; a short pread is
/// an error instead.
/// </summary>
public sealed class PerfDataFile : IDisposable
{
    // A direct-mapped cache of 256 KiB chunks: reading is sequential but for the records of the last two flush
    // rounds, which are read again in time order. It starts at 4 MiB (more would churn the large-object heap on
    // every open) and doubles, up to 64 MiB, while chunks read before are read again (rounds larger than the cache).
    private const int ChunkShift = 18, ChunkSize = 1 << ChunkShift, MaxSlots = 256;
    private readonly SafeFileHandle? _handle;
    private readonly byte[]?[] _chunks = new byte[MaxSlots][];
    private readonly long[] _chunkOf = new long[MaxSlots];
    private int _slots = 16, _reloads;
    private long _highestChunk = -1;

    public string Path { get; }
    /// <summary>The file's size, or -1 for a stream (a FIFO or pipe, read once).</summary>
    public long Length { get; }
    public IReadOnlyList<PerfDataAttr> Attrs { get; private set; }
    public long DataOffset { get; private set; }
    /// <summary>The data section's size (for a file cut short, what is left of it; for a stream, unknown: -1).</summary>
    public long DataSize { get; private set; }
    public IReadOnlyDictionary<int, (long Offset, long Size)> Features { get; private set; }
    /// <summary>Pipe mode (perf record -o -): a 16-byte header, the attributes and features as records in the data.</summary>
    public bool Pipe { get; private set; }
    /// <summary>1 for perf's old PERFFILE format, 2 for PERFILE2.</summary>
    public int Version { get; private set; } = 2;
    /// <summary>Where the file ends inside its data section (it was cut short), or -1.</summary>
    public long TruncatedAt { get; private set; } = -1;

    /// <summary>The build-ids perf recorded (HEADER_BUILD_ID, or its records in pipe mode) by file name, as lower-case hex.</summary>
    public Dictionary<string, string> BuildIds { get; } = new(StringComparer.Ordinal);
    /// <summary>The recorded kernel's build-id, or null.</summary>
    public string? KernelBuildId { get; private set; }

    // A stream (FIFO, pipe) is read once: the records Open read to learn the attributes are kept for the decoder.
    internal Stream? Stream { get; private set; }
    internal List<byte[]> StreamPrefix { get; } = new();
    private readonly Dictionary<int, byte[]> _recordFeatures = new();

    private PerfDataFile(string path, SafeFileHandle? handle, long length)
    {
        Path = path; _handle = handle!; Length = length;
        Array.Fill(_chunkOf, -1);
        Attrs = Array.Empty<PerfDataAttr>();
        Features = new Dictionary<int, (long, long)>();
    }

    internal static KernelDebugException Corrupt(string path, string why) =>
        new($"'{path}' is not a readable perf.data file: {why}.", "PerfDataCorrupt", ErrorCategory.InvalidData) { Target = path };

    internal static KernelDebugException Unsupported(string path, string what) =>
        new($"'{path}' uses a perf.data feature that is not supported: {what}.", "PerfDataUnsupported", ErrorCategory.NotImplemented) { Target = path };

    /// <summary>Opens a perf.data file (a symlink is followed: the target's size counts), or a FIFO/pipe carrying perf's pipe format.</summary>
    public static PerfDataFile Open(string path, CancellationToken cancel = default)
    {
        if (RegularFile.IsPipe(path)) return OpenStream(path, cancel);
        var (handle, length) = RegularFile.OpenRead(path, "PerfData", "perf.data file");
        var file = new PerfDataFile(path, handle, length);
        try
        {
            if (length < PerfFormat.PipeHeaderSize) throw Corrupt(path, $"it has {length} bytes, less than the {PerfFormat.PipeHeaderSize}-byte pipe header");
            return file.Parse();
        }
        catch { file.Dispose(); throw; }
    }

    private static PerfDataFile OpenStream(string path, CancellationToken cancel)
    {
        // A FIFO waits for its writer, as perf report -i fifo does; buffered, and stoppable through the token.
        var stream = new BufferedStream(new FifoReadStream(path, cancel), 1 << 16);
        var file = new PerfDataFile(path, null, -1) { Stream = stream, Pipe = true, DataOffset = PerfFormat.PipeHeaderSize, DataSize = -1 };
        try
        {
            var h = new byte[PerfFormat.PipeHeaderSize];
            if (ReadFully(stream, h) < h.Length) throw Corrupt(path, "the stream ended before the 16-byte pipe header");
            ulong magic = U64(h, 0), size = U64(h, 8);
            if (magic != PerfFormat.Magic) throw Corrupt(path, "it does not start with the PERFILE2 magic");
            if (size != PerfFormat.PipeHeaderSize)
                throw Corrupt(path, "it is a file-mode perf.data, which is read at offsets and so only from a regular file (stream with perf record -o - instead)");
            file.ScanHeaderRecords();
            return file;
        }
        catch { file.Dispose(); throw; }
    }

    internal static int ReadFully(Stream s, Span<byte> into)
    {
        int total = 0;
        while (total < into.Length)
        {
            int n = s.Read(into[total..]);
            if (n <= 0) break;
            total += n;
        }
        return total;
    }

    private PerfDataFile Parse()
    {
        ReadOnlySpan<byte> h = ReadArray(0, (int)Math.Min(Length, PerfFormat.HeaderSize));
        ulong magic = BinaryPrimitives.ReadUInt64LittleEndian(h);
        if (magic == BinaryPrimitives.ReverseEndianness(PerfFormat.Magic) || magic == BinaryPrimitives.ReverseEndianness(PerfFormat.MagicV1))
            throw Unsupported(Path, "it was written on a big-endian machine");
        if (magic == PerfFormat.MagicV1) Version = 1;
        else if (magic != PerfFormat.Magic) throw Corrupt(Path, "it does not start with the PERFILE2 (or old PERFFILE) magic");
        ulong headerSize = U64(h, 8);
        if (headerSize == PerfFormat.PipeHeaderSize && Version == 2)
        {
            Pipe = true;
            DataOffset = PerfFormat.PipeHeaderSize;
            DataSize = Length - DataOffset;
            ScanHeaderRecords();
            return this;
        }
        // PERFFILE files without adds_features have a 72-byte header, as perf accepts.
        if (headerSize != PerfFormat.HeaderSize && !(Version == 1 && headerSize == 72))
            throw Corrupt(Path, $"header size {headerSize}");
        if (Length < (long)headerSize) throw Corrupt(Path, $"it has {Length} bytes, less than its {headerSize}-byte header");
        ulong attrSize = U64(h, 16);
        var attrs = Section(h, 24, "attrs");
        var data = DataSection(h);
        // attr_size counts one entry: the perf_event_attr and the (offset, size) of its ids.
        if (attrSize < 64 + 16 || attrSize > 4096) throw Corrupt(Path, $"attribute entry size {attrSize}");
        if (data.Size == 0 && TruncatedAt < 0)
            throw Corrupt(Path, "its data section is empty: the recording was not finished (perf record or Start-PerfRecord was killed before it wrote the header)");
        if (attrs.Size % (long)attrSize != 0) throw Corrupt(Path, "the attribute section size is not a whole number of entries");

        var list = new List<PerfDataAttr>();
        int attrBytesSize = (int)attrSize - 16;
        for (long off = attrs.Offset; off < attrs.Offset + attrs.Size; off += (long)attrSize)
        {
            ReadOnlySpan<byte> bytes = ReadArray(off, (int)attrSize);
            var ids = Section(bytes, attrBytesSize, "ids");
            var idArray = new ulong[ids.Size / 8];
            ReadOnlySpan<byte> idBytes = ReadArray(ids.Offset, (int)Math.Min(ids.Size, 1 << 24));
            if (idArray.Length > idBytes.Length / 8) throw Corrupt(Path, $"an attribute claims {idArray.Length} ids");
            for (int i = 0; i < idArray.Length; i++) idArray[i] = U64(idBytes, i * 8);
            list.Add(NewAttr(bytes[..attrBytesSize], idArray));
        }
        if (list.Count == 0) throw Corrupt(Path, "it has no event attributes");

        // Feature sections follow the data: one (offset, size) per set bit of adds_features, in bit order.
        var features = new Dictionary<int, (long, long)>();
        if (headerSize == PerfFormat.HeaderSize && TruncatedAt < 0)
        {
            long featOff = data.Offset + data.Size;
            for (int bit = 0; bit < 256; bit++)
            {
                if ((U64(h, 72 + bit / 64 * 8) >> (bit % 64) & 1) == 0) continue;
                if (featOff + 16 > Length) break; // perf tolerates missing feature sections too
                var t = ReadArray(featOff, 16);
                long fo = (long)U64(t, 0), fs = (long)U64(t, 8);
                if (fo >= 0 && fs >= 0 && fo <= Length && fs <= Length - fo) features[bit] = (fo, fs); // a cut-off one is left out, as perf does
                featOff += 16;
            }
        }
        Attrs = list; DataOffset = data.Offset; DataSize = data.Size; Features = features;
        ApplyEventTypes(Section(h, 56, "event types"));
        ReadBuildIdFeature();
        if (list.Any(a => a.Attr.Type == 2) && Features.ContainsKey(PerfFormat.FeatTracingData))
        {
            var tracepoints = new Dictionary<ulong, string>();
            TracepointNames(Feature(PerfFormat.FeatTracingData), tracepoints);
            foreach (var a in list)
                if (a.Attr.Type == 2 && tracepoints.TryGetValue(a.Attr.Config, out var name)) a.Name = name;
        }
        ApplyEventDesc();
        return this;
    }

    /// <summary>The data section; a file cut short inside it keeps what is there (TruncatedAt says where it ends).</summary>
    private (long Offset, long Size) DataSection(ReadOnlySpan<byte> h)
    {
        long off = (long)U64(h, 40), size = (long)U64(h, 48);
        if (off < 0 || off > Length) throw Corrupt(Path, $"the data section ({off}+{size}) lies beyond the end of the {Length}-byte file (truncated?)");
        if (size < 0 || size > Length - off)
        {
            TruncatedAt = Length;
            size = Length - off;
        }
        return (off, size);
    }

    private PerfDataAttr NewAttr(ReadOnlySpan<byte> bytes, ulong[] ids)
    {
        var attr = default(PerfEventAttr);
        var attrBytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(new Span<PerfEventAttr>(ref attr));
        bytes[..Math.Min(bytes.Length, attrBytes.Length)].CopyTo(attrBytes);
        return new PerfDataAttr { Attr = attr, Ids = ids, Name = DefaultName(attr) };
    }

    /// <summary>
    /// Pipe mode: the records before the first kernel record carry the attributes (HEADER_ATTR), tracepoint names
    /// (HEADER_EVENT_TYPE) and features (HEADER_FEATURE). From a stream they are kept for the decoder to replay.
    /// </summary>
    private void ScanHeaderRecords()
    {
        var list = new List<PerfDataAttr>();
        var eventTypes = new Dictionary<ulong, string>();
        var tracepoints = new Dictionary<ulong, string>();
        long off = DataOffset;
        var hdr = new byte[8];
        while (true)
        {
            byte[] rec;
            if (Stream is not null)
            {
                int got = ReadFully(Stream, hdr);
                if (got == 0) break;
                if (got < 8) throw Corrupt(Path, $"the stream ends inside a record header at offset {off}");
                int size = BinaryPrimitives.ReadUInt16LittleEndian(hdr.AsSpan(6));
                if (size < 8) throw Corrupt(Path, $"the record at offset {off} has size {size}");
                rec = new byte[size];
                hdr.CopyTo(rec, 0);
                if (ReadFully(Stream, rec.AsSpan(8)) < size - 8) throw Corrupt(Path, $"the stream ends inside the record at offset {off}");
            }
            else
            {
                if (off + 8 > Length) break;
                int size = BinaryPrimitives.ReadUInt16LittleEndian(ReadArray(off + 6, 2));
                if (size < 8 || off + size > Length) break; // the decoder reports it
                rec = ReadArray(off, size);
            }
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(rec);
            long payload = PerfFormat.PayloadAfter(type, rec);
            off += rec.Length + payload;
            if (type < PerfFormat.RecordHeaderAttr || type is PerfFormat.RecordCompressed or PerfFormat.RecordCompressed2 or PerfFormat.RecordFinishedRound)
            {
                if (Stream is not null) StreamPrefix.Add(rec);
                break;
            }
            switch (type)
            {
                case PerfFormat.RecordHeaderAttr when rec.Length >= 8 + 64:
                {
                    int attrSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(rec.AsSpan(12));
                    if (attrSize == 0) attrSize = 64;
                    if (8 + attrSize > rec.Length) throw Corrupt(Path, $"the HEADER_ATTR record at offset {off - rec.Length} is shorter than its attribute");
                    var ids = new ulong[(rec.Length - 8 - attrSize) / 8];
                    for (int i = 0; i < ids.Length; i++) ids[i] = U64(rec, 8 + attrSize + i * 8);
                    list.Add(NewAttr(rec.AsSpan(8, attrSize), ids));
                    break;
                }
                case PerfFormat.RecordHeaderEventType when rec.Length >= 16:
                    eventTypes[U64(rec, 8)] = CString(rec.AsSpan(16));
                    break;
                case PerfFormat.RecordHeaderBuildId:
                    AddBuildId(rec);
                    break;
                case PerfFormat.RecordHeaderFeature when rec.Length >= 16:
                    _recordFeatures[(int)Math.Min(U64(rec, 8), 4096)] = rec[16..];
                    break;
            }
            if (type == PerfFormat.RecordHeaderTracingData && payload > 0 && payload < 64 << 20)
            {
                // The tracing data names the tracepoints (older perf wrote no EVENT_DESC in pipe mode).
                var data = new byte[payload];
                if (Stream is not null)
                {
                    if (ReadFully(Stream, data) < data.Length) throw Corrupt(Path, $"the stream ends inside the tracing data that ends at offset {off}");
                }
                else if (off <= Length) data = ReadArray(off - payload, (int)payload);
                TracepointNames(data, tracepoints);
            }
            else if (Stream is not null)
            {
                if (payload > 0) Skip(Stream, payload, off);
                else StreamPrefix.Add(rec);
            }
        }
        if (list.Count == 0) throw Corrupt(Path, "its pipe-mode stream has no event attributes (HEADER_ATTR records) before its first event");
        Attrs = list;
        ReadBuildIdFeature();
        foreach (var a in list)
            if (a.Attr.Type == 2 && (eventTypes.TryGetValue(a.Attr.Config, out var name) || tracepoints.TryGetValue(a.Attr.Config, out name))) a.Name = name;
        ApplyEventDesc();
    }

    /// <summary>
    /// Tracepoint names (system:name by id) from perf's tracing data (tools/perf/util/trace-event-read.c): magic,
    /// version, endianness, long and page size, header_page and header_event, the ftrace formats, then per system
    /// its event format files, each starting "name: …" and "ID: …". Anything unexpected ends the walk: names are a nicety.
    /// </summary>
    internal static void TracepointNames(ReadOnlySpan<byte> d, Dictionary<ulong, string> into)
    {
        int p = 10;
        if (d.Length < p || !d[3..10].SequenceEqual("tracing"u8)) return;
        int z = d[p..].IndexOf((byte)0);
        if (z < 0) return;
        p += z + 1 + 1 + 1 + 4; // version, endianness, sizeof(long), page size
        bool Section(ReadOnlySpan<byte> s, ref int at, ReadOnlySpan<byte> label)
        {
            if (at + label.Length + 8 > s.Length || !s.Slice(at, label.Length).SequenceEqual(label)) return false;
            at += label.Length;
            long size = (long)U64(s, at);
            if (size < 0 || size > s.Length - at - 8) return false;
            at += 8 + (int)size;
            return true;
        }
        if (!Section(d, ref p, "header_page\0"u8) || !Section(d, ref p, "header_event\0"u8)) return;
        if (p + 4 > d.Length) return;
        uint ftrace = BinaryPrimitives.ReadUInt32LittleEndian(d[p..]);
        p += 4;
        for (uint i = 0; i < ftrace; i++)
        {
            if (p + 8 > d.Length) return;
            long size = (long)U64(d, p);
            if (size < 0 || size > d.Length - p - 8) return;
            p += 8 + (int)size;
        }
        if (p + 4 > d.Length) return;
        uint systems = BinaryPrimitives.ReadUInt32LittleEndian(d[p..]);
        p += 4;
        for (uint s = 0; s < systems; s++)
        {
            z = d[p..].IndexOf((byte)0);
            if (z < 0) return;
            string system = Encoding.UTF8.GetString(d.Slice(p, z));
            p += z + 1;
            if (p + 4 > d.Length) return;
            uint events = BinaryPrimitives.ReadUInt32LittleEndian(d[p..]);
            p += 4;
            for (uint e = 0; e < events; e++)
            {
                if (p + 8 > d.Length) return;
                long size = (long)U64(d, p);
                if (size < 0 || size > d.Length - p - 8) return;
                var text = Encoding.UTF8.GetString(d.Slice(p + 8, (int)Math.Min(size, 4096)));
                p += 8 + (int)size;
                var name = System.Text.RegularExpressions.Regex.Match(text, @"^name: (\S+)", System.Text.RegularExpressions.RegexOptions.Multiline);
                var id = System.Text.RegularExpressions.Regex.Match(text, @"^ID: (\d+)", System.Text.RegularExpressions.RegexOptions.Multiline);
                if (name.Success && id.Success && ulong.TryParse(id.Groups[1].Value, out var n)) into[n] = system + ":" + name.Groups[1].Value;
            }
        }
    }

    /// <summary>HEADER_BUILD_ID: build_id events back to back (header, pid, build_id[24] with its size at [20] when misc says so, file name).</summary>
    private void ReadBuildIdFeature()
    {
        var s = Feature(PerfFormat.FeatBuildId);
        for (int at = 0; at + 8 <= s.Length;)
        {
            int size = BinaryPrimitives.ReadUInt16LittleEndian(s[(at + 6)..]);
            if (size < 8 || at + size > s.Length) break;
            AddBuildId(s.Slice(at, size));
            at += size;
        }
    }

    private void AddBuildId(ReadOnlySpan<byte> rec)
    {
        if (rec.Length < 36) return;
        ushort misc = BinaryPrimitives.ReadUInt16LittleEndian(rec[4..]);
        int n = (misc & 0x8000) != 0 ? Math.Min((int)rec[8 + 4 + 20], 20) : 20;
        var id = rec.Slice(12, n);
        if ((misc & 0x8000) == 0) while (id.Length > 0 && id[^1] == 0) id = id[..^1]; // older perf: zero-padded 20 bytes
        if (id.IsEmpty) return;
        string hex = Convert.ToHexString(id).ToLowerInvariant();
        string name = CString(rec[36..]);
        int mode = misc & PerfFormat.MiscCpuModeMask;
        if (mode is PerfFormat.MiscGuestKernel or PerfFormat.MiscGuestUser) return;
        if (mode == PerfFormat.MiscKernel && (name.StartsWith("[kernel.kallsyms]", StringComparison.Ordinal) || name == "vmlinux" || name.EndsWith("/vmlinux", StringComparison.Ordinal))) KernelBuildId = hex;
        else BuildIds[name] = hex;
    }

    private void Skip(Stream s, long bytes, long at)
    {
        var buffer = new byte[(int)Math.Min(bytes, 1 << 16)];
        while (bytes > 0)
        {
            int n = ReadFully(s, buffer.AsSpan(0, (int)Math.Min(bytes, buffer.Length)));
            if (n == 0) throw Corrupt(Path, $"the stream ends inside the payload that ends at offset {at}");
            bytes -= n;
        }
    }

    private static string CString(ReadOnlySpan<byte> s)
    {
        int n = s.IndexOf((byte)0);
        return Encoding.UTF8.GetString(n < 0 ? s : s[..n]);
    }

    /// <summary>perf's old event_types section (u64 config, char name[64] each): tracepoint names of files without EVENT_DESC.</summary>
    private void ApplyEventTypes((long Offset, long Size) section)
    {
        if (section.Size < 72 || section.Size > 1 << 20) return;
        var s = ReadArray(section.Offset, (int)section.Size);
        for (int at = 0; at + 72 <= s.Length; at += 72)
        {
            ulong config = U64(s, at);
            foreach (var a in Attrs)
                if (a.Attr.Type == 2 && a.Attr.Config == config) a.Name = CString(s.AsSpan(at + 8, 64));
        }
    }

    private (long Offset, long Size) Section(ReadOnlySpan<byte> from, int at, string what)
    {
        long off = (long)U64(from, at), size = (long)U64(from, at + 8);
        if (off < 0 || size < 0 || off > Length || size > Length - off)
            throw Corrupt(Path, $"the {what} section ({off}+{size}) lies beyond the end of the {Length}-byte file (truncated?)");
        return (off, size);
    }

    internal static ulong U64(ReadOnlySpan<byte> s, int at) => BinaryPrimitives.ReadUInt64LittleEndian(s[at..]);

    /// <summary>A checked view of the file, valid until another chunk takes its cache slot (the decoder holds one record at a time).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<byte> Span(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset + length > Length) throw Corrupt(Path, $"a read at {offset}+{length} lies beyond the end of the file (truncated?)");
        long chunk = offset >> ChunkShift;
        int at = (int)(offset & (ChunkSize - 1));
        if (at + length > ChunkSize) return ReadArray(offset, length);
        int slot = (int)(chunk & (_slots - 1));
        if (_chunkOf[slot] != chunk) LoadChunk(slot, chunk);
        return new ReadOnlySpan<byte>(_chunks[slot], at, length);
    }

    private void LoadChunk(int slot, long chunk)
    {
        if (chunk > _highestChunk) _highestChunk = chunk;
        else if (++_reloads > _slots && _slots < MaxSlots)
        {
            // Thrashing: a larger table maps chunks to other slots, so forget every mapping.
            _slots *= 2;
            _reloads = 0;
            Array.Fill(_chunkOf, -1);
            slot = (int)(chunk & (_slots - 1));
        }
        long start = chunk << ChunkShift;
        var buffer = _chunks[slot] ??= GC.AllocateUninitializedArray<byte>((int)Math.Min(ChunkSize, Length));
        _chunkOf[slot] = -1;
        ReadAt(buffer.AsSpan(0, (int)Math.Min(buffer.Length, Length - start)), start);
        _chunkOf[slot] = chunk;
    }

    /// <summary>A copy of part of the file (for the header, the attributes, the features and records that cross a chunk).</summary>
    private byte[] ReadArray(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset + length > Length) throw Corrupt(Path, $"a read at {offset}+{length} lies beyond the end of the file (truncated?)");
        var bytes = new byte[length];
        ReadAt(bytes, offset);
        return bytes;
    }

    private void ReadAt(Span<byte> into, long offset)
    {
        while (!into.IsEmpty)
        {
            int n;
            if (_handle is null) throw new InvalidOperationException("a stream is read in order, not at offsets");
            try { n = RandomAccess.Read(_handle, into, offset); }
            catch (IOException e)
            {
                throw new KernelDebugException($"'{Path}' could not be read at offset {offset}: {e.Message}", "PerfDataUnreadable", ErrorCategory.ReadError, e) { Target = Path };
            }
            if (n <= 0)
                throw new KernelDebugException($"'{Path}' shrank while it was read (it had {Length} bytes, now ends before {offset + into.Length}): another program truncated or rewrote it. Read it again when the writer has finished.",
                    "PerfDataTruncatedWhileRead", ErrorCategory.InvalidData) { Target = Path };
            into = into[n..];
            offset += n;
        }
    }

    /// <summary>A feature section's raw bytes, or empty when the file lacks it.</summary>
    public ReadOnlySpan<byte> Feature(int bit) =>
        _recordFeatures.TryGetValue(bit, out var r) ? r
        : Features.TryGetValue(bit, out var f) ? ReadArray(f.Offset, (int)Math.Min(f.Size, MaxFeatureSize)) : ReadOnlySpan<byte>.Empty;

    // Feature sections are small (EVENT_DESC, strings); a corrupt size must not allocate the whole file.
    private const long MaxFeatureSize = 16 << 20;

    /// <summary>A perf string feature (u32 length, then the NUL-padded text): HOSTNAME, OSRELEASE, VERSION, ARCH, CPUDESC, CPUID.</summary>
    public string? FeatureString(int bit)
    {
        var s = Feature(bit);
        if (s.Length < 4) return null;
        int len = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(s), (uint)(s.Length - 4));
        return Encoding.UTF8.GetString(s.Slice(4, len)).TrimEnd('\0');
    }

    private void ApplyEventDesc()
    {
        // u32 nr, u32 attr_size, then per event: attr, u32 nr_ids, perf string name, u64 ids[nr_ids]
        var s = Feature(PerfFormat.FeatEventDesc);
        if (s.Length < 8) return;
        uint nr = BinaryPrimitives.ReadUInt32LittleEndian(s), attrSize = BinaryPrimitives.ReadUInt32LittleEndian(s[4..]);
        int pos = 8;
        for (uint i = 0; i < nr; i++)
        {
            if (pos + attrSize + 8 > s.Length) return;
            pos += (int)attrSize;
            uint nrIds = BinaryPrimitives.ReadUInt32LittleEndian(s[pos..]);
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(s[(pos + 4)..]);
            pos += 8;
            if (pos + len + nrIds * 8 > s.Length) return;
            string name = Encoding.UTF8.GetString(s.Slice(pos, (int)len)).TrimEnd('\0');
            pos += (int)len;
            ulong firstId = nrIds > 0 ? U64(s, pos) : 0;
            pos += (int)nrIds * 8;
            var target = nrIds > 0 ? Attrs.FirstOrDefault(a => a.Ids.Contains(firstId)) : (i < Attrs.Count ? Attrs[(int)i] : null);
            if (target is not null && name.Length > 0) target.Name = name;
        }
    }

    /// <summary>A name for an attr without EVENT_DESC: the symbolic name perf would print, else type/config.</summary>
    public static string DefaultName(PerfEventAttr attr)
    {
        var table = attr.Type switch
        {
            (uint)PerfTypeId.Hardware => PerfEventCatalog.HardwareEvents,
            (uint)PerfTypeId.Software => PerfEventCatalog.SoftwareEvents,
            _ => null,
        };
        var match = table?.FirstOrDefault(e => e.Config == attr.Config);
        if (match is not null) return match.Aliases.Length > 0 && attr.Type == (uint)PerfTypeId.Hardware ? match.Aliases[0] : match.Name;
        return attr.Type == (uint)PerfTypeId.Raw ? $"r{attr.Config:x}" : $"{attr.Type}:0x{attr.Config:x}";
    }

    public void Dispose()
    {
        _handle?.Dispose();
        Stream?.Dispose();
    }
}
