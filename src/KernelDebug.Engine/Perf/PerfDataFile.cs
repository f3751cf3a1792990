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
    public const int HeaderSize = 104;

    // sample_type bits
    public const ulong SampleIp = 1, SampleTid = 2, SampleTime = 4, SampleAddr = 8, SampleRead = 0x10, SampleCallchain = 0x20,
        SampleId = 0x40, SampleCpu = 0x80, SamplePeriod = 0x100, SampleStreamId = 0x200, SampleRaw = 0x400, SampleIdentifier = 0x10000;

    // read_format bits
    public const ulong FormatTotalTimeEnabled = 1, FormatTotalTimeRunning = 2, FormatId = 4, FormatGroup = 8, FormatLost = 16;

    // record types
    public const uint RecordMmap = 1, RecordLost = 2, RecordComm = 3, RecordExit = 4, RecordFork = 7, RecordSample = 9, RecordMmap2 = 10,
        RecordLostSamples = 13, RecordKsymbol = 17, RecordFinishedRound = 68, RecordIdIndex = 69, RecordCompressed = 81;

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
    private readonly SafeFileHandle _handle;
    private readonly byte[]?[] _chunks = new byte[MaxSlots][];
    private readonly long[] _chunkOf = new long[MaxSlots];
    private int _slots = 16, _reloads;
    private long _highestChunk = -1;

    public string Path { get; }
    public long Length { get; }
    public IReadOnlyList<PerfDataAttr> Attrs { get; private set; }
    public long DataOffset { get; private set; }
    public long DataSize { get; private set; }
    public IReadOnlyDictionary<int, (long Offset, long Size)> Features { get; private set; }

    private PerfDataFile(string path, SafeFileHandle handle, long length)
    {
        Path = path; _handle = handle; Length = length;
        Array.Fill(_chunkOf, -1);
        Attrs = Array.Empty<PerfDataAttr>();
        Features = new Dictionary<int, (long, long)>();
    }

    internal static KernelDebugException Corrupt(string path, string why) =>
        new($"'{path}' is not a readable perf.data file: {why}.", "PerfDataCorrupt", ErrorCategory.InvalidData) { Target = path };

    public static PerfDataFile Open(string path)
    {
        var (handle, length) = RegularFile.OpenRead(path, "PerfData", "perf.data file");
        var file = new PerfDataFile(path, handle, length);
        try
        {
            if (length < PerfFormat.HeaderSize) throw Corrupt(path, $"it has {length} bytes, less than the {PerfFormat.HeaderSize}-byte header");
            return file.Parse();
        }
        catch { file.Dispose(); throw; }
    }

    private PerfDataFile Parse()
    {
        ReadOnlySpan<byte> h = ReadArray(0, PerfFormat.HeaderSize);
        ulong magic = BinaryPrimitives.ReadUInt64LittleEndian(h);
        if (magic == BinaryPrimitives.ReverseEndianness(PerfFormat.Magic)) throw Corrupt(Path, "it was written on a big-endian machine, which is not supported");
        if (magic != PerfFormat.Magic)
        {
            if (h[..8].SequenceEqual("PERFFILE"u8)) throw Corrupt(Path, "it is in perf's old version 1 format");
            throw Corrupt(Path, "it does not start with the PERFILE2 magic");
        }
        ulong headerSize = U64(h, 8), attrSize = U64(h, 16);
        var attrs = Section(h, 24, "attrs");
        var data = Section(h, 40, "data");
        if (headerSize != PerfFormat.HeaderSize)
            throw Corrupt(Path, headerSize == 16 ? "it is a pipe-mode stream (perf record -o -), which is not supported" : $"header size {headerSize}");
        // attr_size counts one entry: the perf_event_attr and the (offset, size) of its ids.
        if (attrSize < 64 + 16 || attrSize > 4096) throw Corrupt(Path, $"attribute entry size {attrSize}");
        if (data.Size == 0)
            throw Corrupt(Path, "its data section is empty: the recording was not finished (perf record or Start-PerfRecord was killed before it wrote the header)");
        if (attrs.Size % (long)attrSize != 0) throw Corrupt(Path, "the attribute section size is not a whole number of entries");

        var list = new List<PerfDataAttr>();
        int attrBytesSize = (int)attrSize - 16;
        for (long off = attrs.Offset; off < attrs.Offset + attrs.Size; off += (long)attrSize)
        {
            ReadOnlySpan<byte> bytes = ReadArray(off, (int)attrSize);
            var attr = default(PerfEventAttr);
            var attrBytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(new Span<PerfEventAttr>(ref attr));
            bytes[..Math.Min(attrBytesSize, attrBytes.Length)].CopyTo(attrBytes);
            var ids = Section(bytes, attrBytesSize, "ids");
            var idArray = new ulong[ids.Size / 8];
            ReadOnlySpan<byte> idBytes = ReadArray(ids.Offset, (int)Math.Min(ids.Size, 1 << 24));
            if (idArray.Length > idBytes.Length / 8) throw Corrupt(Path, $"an attribute claims {idArray.Length} ids");
            for (int i = 0; i < idArray.Length; i++) idArray[i] = U64(idBytes, i * 8);
            list.Add(new PerfDataAttr { Attr = attr, Ids = idArray, Name = DefaultName(attr) });
        }
        if (list.Count == 0) throw Corrupt(Path, "it has no event attributes");

        // Feature sections follow the data: one (offset, size) per set bit of adds_features, in bit order.
        var features = new Dictionary<int, (long, long)>();
        long featOff = data.Offset + data.Size;
        for (int bit = 0; bit < 256; bit++)
        {
            if ((U64(h, 72 + bit / 64 * 8) >> (bit % 64) & 1) == 0) continue;
            if (featOff + 16 > Length) break; // perf tolerates missing feature sections too
            var f = Section(ReadArray(featOff, 16), 0, $"feature {bit}");
            features[bit] = f;
            featOff += 16;
        }
        Attrs = list; DataOffset = data.Offset; DataSize = data.Size; Features = features;
        ApplyEventDesc();
        return this;
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
        Features.TryGetValue(bit, out var f) ? ReadArray(f.Offset, (int)Math.Min(f.Size, MaxFeatureSize)) : ReadOnlySpan<byte>.Empty;

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

    public void Dispose() => _handle.Dispose();
}
