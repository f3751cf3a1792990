using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using KernelDebug.Perf;
using KernelDebug.Symbols;

namespace KernelDebug.Perf
{
    /// <summary>
    /// Decodes the records of a perf.data file into samples, as perf script does: orders them by time within perf's
    /// rounds, follows COMM, FORK, EXIT, MMAP and MMAP2 to know each thread's name and each process's mappings, and
    /// symbolizes user addresses from the mapped ELF files and kernel addresses from /proc/kallsyms.
    /// </summary>
    public sealed unsafe partial class PerfDataDecoder
    {
        private readonly PerfDataFile _file;
        private readonly Kallsyms _kernel;
        // A kallsyms or vmlinux the user gave (perf report --kallsyms/--vmlinux): used whatever boot recorded the file.
        private readonly bool _kernelGiven;
        private readonly ElfFile? _vmlinux;
        private readonly Layout _first;
        private readonly Dictionary<ulong, Layout> _byId = new();
        private readonly bool _identifier;
        private readonly Dictionary<int, string> _comms = new();
        private readonly Dictionary<int, MapList> _maps = new();
        // Resolved frames are cached per mapping (Map.FramesFor), for the kernel and for addresses outside any mapping:
        // a new mapping is a new Map, so a cache never outlives what it was resolved against.
        private readonly Dictionary<ulong, PerfFrame> _kernelFrames = new();
        private readonly Dictionary<ulong, PerfFrame> _unmappedFrames = new();
        private readonly Dictionary<(int Pid, ulong Ip), PerfFrame> _jitFrames = new();
        private int _cacheEpoch, _cachedFrames;
        private const int MaxCachedFrames = 1 << 20;
        private PerfFrame[] _chainBuffer = new PerfFrame[128];
        private readonly RecordArena _arena = new();
        private ZstdSharp.Decompressor? _zstd;
        private byte[] _inflated = Array.Empty<byte>();
        private int _inflatedCarry;
        // PERF_SAMPLE_READ: the last value read per event id, as perf keeps it (a sample's period is the difference).
        private readonly Dictionary<ulong, ulong> _lastRead = new();
        private (ulong Value, ulong Id)[] _readValues = new (ulong, ulong)[16];
        private readonly List<string> _warnings = new();
        private long _auxRecords, _auxBytes, _unknownIdValues;
        private readonly Dictionary<uint, long> _unknownTypes = new();

        /// <summary>Where an attr's sample type puts things in its records.</summary>
        private sealed class Layout
        {
            public Layout(PerfDataAttr attr)
            {
                Attr = attr;
                ulong st = SampleType = attr.SampleType;
                if (attr.SampleIdAll)
                {
                    TrailerSize = 8 * (Bit(st, PerfFormat.SampleTid) + Bit(st, PerfFormat.SampleTime) + Bit(st, PerfFormat.SampleId) +
                        Bit(st, PerfFormat.SampleStreamId) + Bit(st, PerfFormat.SampleCpu) + Bit(st, PerfFormat.SampleIdentifier));
                    TrailerTimeOffset = (st & PerfFormat.SampleTime) != 0 ? 8 * Bit(st, PerfFormat.SampleTid) : -1;
                }
                else TrailerTimeOffset = -1;
                ulong rf = attr.ReadFormat;
                ReadSize = (rf & PerfFormat.FormatGroup) != 0 ? -1
                    : 8 * (1 + Bit(rf, PerfFormat.FormatTotalTimeEnabled) + Bit(rf, PerfFormat.FormatTotalTimeRunning) + Bit(rf, PerfFormat.FormatId) + Bit(rf, PerfFormat.FormatLost));
                SampleTimeOffset = (st & PerfFormat.SampleTime) != 0
                    ? 8 + 8 * (Bit(st, PerfFormat.SampleIdentifier) + Bit(st, PerfFormat.SampleIp) + Bit(st, PerfFormat.SampleTid)) : -1;
            }

            public PerfDataAttr Attr { get; }
            public ulong SampleType { get; }
            public int TrailerSize { get; }
            public int TrailerTimeOffset { get; }
            public int ReadSize { get; }
            public int SampleTimeOffset { get; }
        }

        private readonly IReadOnlyList<string> _symbolPath;

        /// <param name="kernel">The recording machine's kallsyms (perf's --kallsyms); null: this host's, used only when the recording is from this boot.</param>
        /// <param name="symbolPath">Roots to look for the recorded binaries under first (perf's --symfs), as root + path or root/.build-id/.</param>
        /// <param name="vmlinux">The recorded kernel's image with symbols (perf's --vmlinux); used before any kallsyms.</param>
        public PerfDataDecoder(PerfDataFile file, Kallsyms? kernel = null, IReadOnlyList<string>? symbolPath = null, ElfFile? vmlinux = null)
        {
            _file = file;
            _symbolPath = symbolPath ?? Array.Empty<string>();
            _kernelGiven = kernel is not null || vmlinux is not null;
            _vmlinux = vmlinux;
            _kernel = kernel ?? (vmlinux is null ? Kallsyms.Current : Kallsyms.Empty);
            _first = new Layout(file.Attrs[0]);
            _identifier = file.Attrs.All(a => (a.SampleType & PerfFormat.SampleIdentifier) != 0);
            foreach (var a in file.Attrs)
            {
                if (a.SampleType != _first.SampleType && !_identifier)
                    throw PerfDataFile.Corrupt(file.Path, "its events have different sample types without PERF_SAMPLE_IDENTIFIER, which perf itself refuses");
                var layout = ReferenceEquals(a, file.Attrs[0]) ? _first : new Layout(a);
                foreach (var id in a.Ids) _byId.TryAdd(id, layout);
            }
            // HEADER_COMPRESSED: u32 version, u32 type (1 = zstd), u32 level, u32 ratio, u64 mmap_len.
            var comp = file.Feature(PerfFormat.FeatCompressed);
            if (comp.Length >= 8 && BinaryPrimitives.ReadUInt32LittleEndian(comp[4..]) is var ctype and not 0 and not 1)
                throw PerfDataFile.Unsupported(file.Path, $"its records are compressed with compression type {ctype} (only zstd, type 1, is read)");
        }

        /// <summary>What was skipped or cut short, said once the samples are read (AUX trace data, a file cut short, unknown records).</summary>
        public IReadOnlyList<string> Warnings => _warnings;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private ReadOnlySpan<byte> At(long address, int length) => RecordArena.Owns(address) ? _arena.Span(address, length) : _file.Span(address, length);

        /// <summary>The attr a record belongs to: by its identifier when every attr has one, else the first (all share a layout).</summary>
        private Layout LayoutOf(uint type, ReadOnlySpan<byte> r)
        {
            if (!_identifier || _byId.Count == 0) return _first;
            ulong id = type == PerfFormat.RecordSample ? (r.Length >= 16 ? U64(r, 8) : 0) : (r.Length >= 16 ? U64(r, r.Length - 8) : 0);
            return _byId.TryGetValue(id, out var l) ? l : _first;
        }

        private static int Bit(ulong mask, ulong bit) => (mask & bit) != 0 ? 1 : 0;

        /// <summary>Samples lost by the kernel (LOST and LOST_SAMPLES records).</summary>
        public ulong Lost { get; private set; }
        public long Records { get; private set; }
        public long SampleCount { get; private set; }

        private long _bytesRead;

        /// <summary>Bytes of the data section read so far (read from any thread: progress by bytes).</summary>
        public long BytesRead => Volatile.Read(ref _bytesRead);

        /// <summary>A record waiting for its round to end, ordered by time, then by its place in the file.</summary>
        private readonly record struct Pending(ulong Time, long Offset, long Seq) : IComparable<Pending>
        {
            public int CompareTo(Pending other) => Time != other.Time ? Time.CompareTo(other.Time) : Seq.CompareTo(other.Seq);
        }

        /// <summary>Where one pass over the records is.</summary>
        private sealed class Cursor
        {
            public long Offset, End, Seq;
            public ulong MaxTime, PreviousRoundMax;
            public bool Timed, Done;
            public readonly List<Pending> Pending = new();
            // Records decompressed from a COMPRESSED record, waiting to be read in order; the stream's replayed prefix.
            public readonly Queue<(long Address, uint Type, int Size)> Inflated = new();
            public int PrefixIndex;
            public bool Stopped;
            // Checked every few thousand records too: a file without flush rounds is one long batch.
            public CancellationToken Cancel;
        }

        /// <summary>Every sample, in time order within perf's flush rounds (as perf script orders them).</summary>
        public IEnumerable<PerfSample> Samples(CancellationToken cancel = default)
        {
            var cursor = NewCursor(cancel);
            var ready = new List<PerfSample>();
            while (!cursor.Done)
            {
                NextBatch(cursor, ready);
                foreach (var s in ready) yield return s;
                ready.Clear();
                cancel.ThrowIfCancellationRequested();
            }
        }

        /// <summary>The same samples in batches (a flush round each), for a consumer on another thread.</summary>
        public IEnumerable<PerfSample[]> SampleBatches(CancellationToken cancel = default)
        {
            var cursor = NewCursor(cancel);
            var ready = new List<PerfSample>();
            while (!cursor.Done)
            {
                NextBatch(cursor, ready);
                if (ready.Count > 0) yield return ready.ToArray();
                ready.Clear();
                cancel.ThrowIfCancellationRequested();
            }
        }

        private Cursor NewCursor(CancellationToken cancel) => new()
        {
            Cancel = cancel,
            Offset = _file.DataOffset, End = _file.DataSize < 0 ? long.MaxValue : _file.DataOffset + _file.DataSize,
            Timed = _file.Attrs.All(a => (a.SampleType & PerfFormat.SampleTime) != 0),
        };

        /// <summary>Reads records up to the end of a round (or a batch, for untimed files) and adds their samples to ready.</summary>
        // The hot path is compiled optimized at once (AggressiveOptimization): a decode in a fresh session would
        // otherwise spend its first half-second in tier-0 code.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void NextBatch(Cursor c, List<PerfSample> ready)
        {
            while (NextRecord(c, out long addr, out uint type, out int size))
            {
                if ((++Records & 0x3fff) == 0) { c.Cancel.ThrowIfCancellationRequested(); Volatile.Write(ref _bytesRead, c.Offset - _file.DataOffset); }
                if (type == PerfFormat.RecordFinishedRound && c.Timed)
                {
                    Flush(c.Pending, c.PreviousRoundMax, ready, c.Cancel);
                    c.PreviousRoundMax = c.MaxTime;
                    ReleaseArena(c);
                    if (ready.Count > 0) { Volatile.Write(ref _bytesRead, c.Offset - _file.DataOffset); return; }
                }
                else if (type < 64)
                {
                    if (!Interesting(type)) continue;
                    if (!c.Timed)
                    {
                        Process(addr, ready);
                        if (ready.Count >= 4096) { ReleaseArena(c); Volatile.Write(ref _bytesRead, c.Offset - _file.DataOffset); return; }
                    }
                    else
                    {
                        ulong t = TimeOf(type, addr, size);
                        if (t > c.MaxTime) c.MaxTime = t;
                        c.Pending.Add(new Pending(t, addr, c.Seq++));
                    }
                }
                else if (type > PerfFormat.RecordUserMax) _unknownTypes[type] = _unknownTypes.GetValueOrDefault(type) + 1;
            }
            Volatile.Write(ref _bytesRead, c.Offset - _file.DataOffset);
            c.Done = true;
            Flush(c.Pending, ulong.MaxValue, ready, c.Cancel);
            Finish();
        }

        /// <summary>The next record to decode: from the file at its offset, or decompressed or streamed into the arena.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private bool NextRecord(Cursor c, out long addr, out uint type, out int size)
        {
            while (true)
            {
                if (c.Inflated.Count > 0)
                {
                    (addr, type, size) = c.Inflated.Dequeue();
                    return true;
                }
                if (c.Stopped) { addr = 0; type = 0; size = 0; return false; }
                if (_file.Stream is not null)
                {
                    if (!NextStreamRecord(c, out addr, out type, out size)) return false;
                }
                else
                {
                    long off = c.Offset;
                    addr = off; type = 0; size = 0;
                    if (off >= c.End) return false;
                    if (off + 8 > c.End) { Damaged(c, off, "a record header"); return false; }
                    var hdr = _file.Span(off, 8);
                    type = BinaryPrimitives.ReadUInt32LittleEndian(hdr);
                    size = BinaryPrimitives.ReadUInt16LittleEndian(hdr[6..]);
                    if (size < 8) throw PerfDataFile.Corrupt(_file.Path, $"the record at offset {off} has size {size}");
                    if (off + size > c.End) { Damaged(c, off, $"a record (type {type}, {size} bytes)"); return false; }
                    long next = off + size;
                    if (type is PerfFormat.RecordHeaderTracingData or PerfFormat.RecordAuxtrace)
                    {
                        long payload = PerfFormat.PayloadAfter(type, _file.Span(off, size));
                        if (type == PerfFormat.RecordAuxtrace) { _auxRecords++; _auxBytes += payload; }
                        if (payload > c.End - next) { Damaged(c, off, $"the {payload}-byte payload of a record (type {type})"); return false; }
                        next += payload;
                    }
                    c.Offset = next;
                }
                if (type is PerfFormat.RecordCompressed or PerfFormat.RecordCompressed2) { Inflate(c, addr, type, size); continue; }
                return true;
            }
        }

        /// <summary>A record of a stream (a FIFO or pipe): first those Open read for the attributes, then the rest, each copied to the arena.</summary>
        private bool NextStreamRecord(Cursor c, out long addr, out uint type, out int size)
        {
            var prefix = _file.StreamPrefix;
            byte[] rec;
            if (c.PrefixIndex < prefix.Count) rec = prefix[c.PrefixIndex++];
            else
            {
                var stream = _file.Stream!;
                Span<byte> hdr = stackalloc byte[8];
                int got = PerfDataFile.ReadFully(stream, hdr);
                addr = 0; type = 0; size = 0;
                if (got == 0) return false;
                if (got < 8) { Damaged(c, c.Offset, "a record header"); return false; }
                type = BinaryPrimitives.ReadUInt32LittleEndian(hdr);
                size = BinaryPrimitives.ReadUInt16LittleEndian(hdr[6..]);
                if (size < 8) throw PerfDataFile.Corrupt(_file.Path, $"the record at offset {c.Offset} has size {size}");
                rec = _streamRecord.Length >= size ? _streamRecord : (_streamRecord = new byte[65536]);
                hdr.CopyTo(rec);
                if (PerfDataFile.ReadFully(stream, rec.AsSpan(8, size - 8)) < size - 8) { Damaged(c, c.Offset, $"a record (type {type}, {size} bytes)"); return false; }
                long payload = PerfFormat.PayloadAfter(type, rec.AsSpan(0, size));
                if (type == PerfFormat.RecordAuxtrace) { _auxRecords++; _auxBytes += payload; }
                c.Offset += size;
                for (var skip = new byte[(int)Math.Min(Math.Max(payload, 1), 1 << 16)]; payload > 0;)
                {
                    int n = PerfDataFile.ReadFully(stream, skip.AsSpan(0, (int)Math.Min(payload, skip.Length)));
                    if (n == 0) { Damaged(c, c.Offset, $"the payload of a record (type {type})"); return false; }
                    payload -= n;
                    c.Offset += n;
                }
                addr = _arena.Append(rec.AsSpan(0, size));
                return true;
            }
            type = BinaryPrimitives.ReadUInt32LittleEndian(rec);
            size = rec.Length;
            c.Offset += size;
            addr = _arena.Append(rec);
            return true;
        }

        private byte[] _streamRecord = Array.Empty<byte>();

        /// <summary>The file (or stream) ends inside a record: stop there, keep every sample before, and say where.</summary>
        private void Damaged(Cursor c, long offset, string what)
        {
            c.Stopped = true;
            bool cut = _file.TruncatedAt >= 0 || _file.Pipe;
            if (!cut) throw PerfDataFile.Corrupt(_file.Path, $"{what} at offset {offset} runs past the end of the data section");
            _warnings.Add($"'{_file.Path}' ends inside {what} at offset {offset}: the file was cut short (perf record killed, disk full, a partial copy) or has other bytes appended. The samples before that offset were read.");
        }

        /// <summary>Decompresses a COMPRESSED (81) or COMPRESSED2 (83) record: zstd frames streamed across records, whose records may span two of them.</summary>
        private void Inflate(Cursor c, long addr, uint type, int size)
        {
            var rec = At(addr, size);
            ReadOnlySpan<byte> payload;
            if (type == PerfFormat.RecordCompressed) payload = rec[8..];
            else
            {
                // COMPRESSED2: a u64 data_size after the header; header.size is padded to 8 bytes.
                if (size < 16) throw PerfDataFile.Corrupt(_file.Path, $"the COMPRESSED2 record at offset {addr} has size {size}");
                ulong dataSize = U64(rec, 8);
                if (dataSize > (ulong)(size - 16)) throw PerfDataFile.Corrupt(_file.Path, $"the COMPRESSED2 record at offset {addr} claims {dataSize} bytes in {size - 16}");
                payload = rec.Slice(16, (int)dataSize);
            }
            // Appending to the arena never moves a segment, and nothing reads the file's cache meanwhile: the payload stays valid.
            var input = payload;
            _zstd ??= new ZstdSharp.Decompressor();
            if (_inflated.Length == 0) _inflated = new byte[1 << 20];
            while (true)
            {
                System.Buffers.OperationStatus status;
                int consumed, written;
                try { status = _zstd.UnwrapStream(input, _inflated.AsSpan(_inflatedCarry), out consumed, out written); }
                catch (ZstdSharp.ZstdException e)
                {
                    throw PerfDataFile.Corrupt(_file.Path, $"the compressed record at offset {addr} does not decompress ({e.Message})");
                }
                input = input[consumed..];
                int have = _inflatedCarry + written, pos = 0;
                while (have - pos >= 8)
                {
                    int rsize = BinaryPrimitives.ReadUInt16LittleEndian(_inflated.AsSpan(pos + 6));
                    if (rsize < 8) throw PerfDataFile.Corrupt(_file.Path, $"a record decompressed from offset {addr} has size {rsize}");
                    if (pos + rsize > have) break;
                    uint rtype = BinaryPrimitives.ReadUInt32LittleEndian(_inflated.AsSpan(pos));
                    c.Inflated.Enqueue((_arena.Append(_inflated.AsSpan(pos, rsize)), rtype, rsize));
                    pos += rsize;
                }
                Buffer.BlockCopy(_inflated, pos, _inflated, 0, have - pos);
                _inflatedCarry = have - pos;
                if (input.IsEmpty && status != System.Buffers.OperationStatus.DestinationTooSmall) break;
                if (consumed == 0 && written == 0 && status != System.Buffers.OperationStatus.DestinationTooSmall)
                    throw PerfDataFile.Corrupt(_file.Path, $"the compressed record at offset {addr} does not decompress");
            }
        }

        /// <summary>Lets the arena drop what no waiting record needs.</summary>
        private void ReleaseArena(Cursor c)
        {
            if (_arena.Segments < 2) return;
            long lowest = long.MaxValue;
            foreach (var p in c.Pending) if (RecordArena.Owns(p.Offset) && p.Offset < lowest) lowest = p.Offset;
            if (c.Inflated.Count > 0 && c.Inflated.Peek().Address < lowest) lowest = c.Inflated.Peek().Address;
            _arena.Release(lowest);
        }

        private void Finish()
        {
            if (_auxRecords > 0)
                _warnings.Add($"'{_file.Path}' holds {_auxRecords} AUX trace records ({_auxBytes} bytes of hardware trace: Intel PT, ARM SPE or CoreSight); they were skipped, as decoding hardware traces is not supported. The samples were read.");
            foreach (var (t, n) in _unknownTypes)
                _warnings.Add($"'{_file.Path}' holds {n} records of type {t}, which this reader does not know (a newer perf?); they were skipped.");
            if (_unknownIdValues > 0)
                _warnings.Add($"'{_file.Path}': {_unknownIdValues} counter values read with samples (PERF_SAMPLE_READ) name an event id the file does not declare; perf skips them too.");
        }

        private static bool Interesting(uint type) => type is PerfFormat.RecordSample or PerfFormat.RecordMmap or PerfFormat.RecordMmap2 or PerfFormat.RecordComm
            or PerfFormat.RecordFork or PerfFormat.RecordExit or PerfFormat.RecordLost or PerfFormat.RecordLostSamples or PerfFormat.RecordKsymbol;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Flush(List<Pending> pending, ulong upTo, List<PerfSample> output, CancellationToken cancel)
        {
            if (pending.Count == 0) return;
            var span = CollectionsMarshal.AsSpan(pending);
            RunMergeSort.Sort(span, ref _sortScratch);
            int n = 0;
            while (n < span.Length && span[n].Time <= upTo)
            {
                Process(span[n].Offset, output);
                if ((++n & 0x3fff) == 0) cancel.ThrowIfCancellationRequested();
            }
            pending.RemoveRange(0, n);
        }

        private Pending[]? _sortScratch;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private ulong TimeOf(uint type, long off, int size)
        {
            var r = At(off, size);
            var l = LayoutOf(type, r);
            if (type == PerfFormat.RecordSample)
                return l.SampleTimeOffset >= 0 && l.SampleTimeOffset + 8 <= size ? U64(r, l.SampleTimeOffset) : 0;
            if (l.TrailerTimeOffset < 0 || size < 8 + l.TrailerSize) return 0;
            return U64(r, size - l.TrailerSize + l.TrailerTimeOffset);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Process(long off, List<PerfSample> output)
        {
            var hdr = At(off, 8);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(hdr);
            ushort misc = BinaryPrimitives.ReadUInt16LittleEndian(hdr[4..]);
            int size = BinaryPrimitives.ReadUInt16LittleEndian(hdr[6..]);
            var r = At(off, size);
            switch (type)
            {
                case PerfFormat.RecordSample: Sample(off, r, misc, output); return;
                case PerfFormat.RecordComm when size >= 16:
                {
                    int pid = BinaryPrimitives.ReadInt32LittleEndian(r[8..]), tid = BinaryPrimitives.ReadInt32LittleEndian(r[12..]);
                    _comms[tid] = CString(r[16..]);
                    // On exec perf keeps the old mappings (new ones replace what they overlap): so do we.
                    break;
                }
                case PerfFormat.RecordFork when size >= 24:
                {
                    int pid = BinaryPrimitives.ReadInt32LittleEndian(r[8..]), ppid = BinaryPrimitives.ReadInt32LittleEndian(r[12..]);
                    int tid = BinaryPrimitives.ReadInt32LittleEndian(r[16..]), ptid = BinaryPrimitives.ReadInt32LittleEndian(r[20..]);
                    if (_comms.TryGetValue(ptid, out var c) || _comms.TryGetValue(ppid, out c)) _comms[tid] = c;
                    if (pid != ppid && _maps.TryGetValue(ppid, out var parentMaps)) _maps[pid] = parentMaps.Clone();
                    break;
                }
                case PerfFormat.RecordMmap when size >= 40:
                    AddMap(BinaryPrimitives.ReadInt32LittleEndian(r[8..]), U64(r, 16), U64(r, 24), U64(r, 32), CString(r[40..]), misc);
                    break;
                case PerfFormat.RecordMmap2 when size >= 72:
                {
                    // With PERF_RECORD_MISC_MMAP_BUILD_ID the device/inode fields hold the build-id: u8 size, 3 reserved, 20 bytes.
                    string? buildId = (misc & PerfFormat.MiscMmapBuildId) != 0 && r[40] is > 0 and <= 20 ? Convert.ToHexString(r.Slice(44, r[40])).ToLowerInvariant() : null;
                    AddMap(BinaryPrimitives.ReadInt32LittleEndian(r[8..]), U64(r, 16), U64(r, 24), U64(r, 32), CString(r[72..]), misc, buildId);
                    break;
                }
                case PerfFormat.RecordKsymbol when size >= 24:
                {
                    // BPF programs and other out-of-line kernel code: perf gives each its own DSO named after it.
                    ulong addr = U64(r, 8);
                    uint len = BinaryPrimitives.ReadUInt32LittleEndian(r[16..]);
                    bool unregister = (BinaryPrimitives.ReadUInt16LittleEndian(r[22..]) & 1) != 0;
                    var name = CString(r[24..]);
                    if (unregister) _ksymbols.Remove(addr);
                    else _ksymbols.Add(new Map(addr, addr + len, 0, name));
                    _kernelFrames.Clear();
                    break;
                }
                case PerfFormat.RecordLost when size >= 24: Lost += U64(r, 16); break;
                case PerfFormat.RecordLostSamples when size >= 16: Lost += U64(r, 8); break;
            }
        }

        private static ulong U64(ReadOnlySpan<byte> r, int at) => BinaryPrimitives.ReadUInt64LittleEndian(r[at..]);

        private static string CString(ReadOnlySpan<byte> s)
        {
            int n = s.IndexOf((byte)0);
            return Encoding.UTF8.GetString(n < 0 ? s : s[..n]);
        }

        private MapList MapsOf(int pid)
        {
            if (!_maps.TryGetValue(pid, out var m)) _maps[pid] = m = new MapList();
            return m;
        }

        private void AddMap(int pid, ulong start, ulong len, ulong pgoff, string path, ushort misc, string? buildId = null)
        {
            int mode = misc & PerfFormat.MiscCpuModeMask;
            if (mode is PerfFormat.MiscKernel or PerfFormat.MiscGuestKernel || pid == -1)
            {
                // The kernel's own map is [kernel.kallsyms]_text, its pgoff the address of _text in the recorded boot;
                // the others are modules, which perf names [module].
                if (path.StartsWith("[kernel.kallsyms]", StringComparison.Ordinal) && pgoff != 0) _recordedText = pgoff;
                if (ModuleDso(path) is { } dso && len > 0 && start + len > start)
                {
                    _modules.Add(new Map(start, start + len, pgoff, dso));
                    _kernelFrames.Clear();
                    Array.Clear(_hot);
                }
                return;
            }
            MapsOf(pid).Add(new Map(start, start + len, pgoff, path) { BuildId = buildId });
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Sample(long off, ReadOnlySpan<byte> r, ushort misc, List<PerfSample> output)
        {
            var layout = LayoutOf(PerfFormat.RecordSample, r);
            ulong st = layout.SampleType;
            int p = 8, size = r.Length;
            // perf starts from the attr's sample_period (its sample_freq in frequency mode), as perf script prints it.
            ulong ip = 0, time = 0, period = layout.Attr.Attr.SamplePeriodOrFreq, id = 0;
            int pid = -1, tid = -1, cpu = -1, values = 0;
            try
            {
                if ((st & PerfFormat.SampleIdentifier) != 0) { id = U64(r, p); p += 8; }
                if ((st & PerfFormat.SampleIp) != 0) { ip = U64(r, p); p += 8; }
                if ((st & PerfFormat.SampleTid) != 0) { pid = BinaryPrimitives.ReadInt32LittleEndian(r[p..]); tid = BinaryPrimitives.ReadInt32LittleEndian(r[(p + 4)..]); p += 8; }
                if ((st & PerfFormat.SampleTime) != 0) { time = U64(r, p); p += 8; }
                if ((st & PerfFormat.SampleAddr) != 0) p += 8;
                if ((st & PerfFormat.SampleId) != 0) { id = U64(r, p); p += 8; }
                if ((st & PerfFormat.SampleStreamId) != 0) p += 8;
                if ((st & PerfFormat.SampleCpu) != 0) { cpu = BinaryPrimitives.ReadInt32LittleEndian(r[p..]); p += 8; }
                if ((st & PerfFormat.SamplePeriod) != 0) { period = U64(r, p); p += 8; }
                if ((st & PerfFormat.SampleRead) != 0)
                {
                    // The counter values read with the sample: one, or each member of a group (PERF_FORMAT_GROUP).
                    ulong rf = layout.Attr.ReadFormat;
                    int times = 8 * (Bit(rf, PerfFormat.FormatTotalTimeEnabled) + Bit(rf, PerfFormat.FormatTotalTimeRunning));
                    if ((rf & PerfFormat.FormatGroup) != 0)
                    {
                        ulong nr = U64(r, p);
                        p += 8 + times;
                        int per = 8 * (1 + Bit(rf, PerfFormat.FormatId) + Bit(rf, PerfFormat.FormatLost));
                        if (nr > (ulong)((size - p) / per)) throw PerfDataFile.Corrupt(_file.Path, $"the sample at offset {off} claims {nr} group values");
                        if (_readValues.Length < (int)nr) _readValues = new (ulong, ulong)[(int)nr];
                        for (int i = 0; i < (int)nr; i++, p += per)
                            _readValues[values++] = (U64(r, p), (rf & PerfFormat.FormatId) != 0 ? U64(r, p + 8) : 0);
                    }
                    else
                    {
                        ulong value = U64(r, p);
                        p += 8 + times;
                        ulong vid = 0;
                        if ((rf & PerfFormat.FormatId) != 0) { vid = U64(r, p); p += 8; }
                        if ((rf & PerfFormat.FormatLost) != 0) p += 8;
                        _readValues[values++] = (value, vid);
                    }
                }
                if (_cachedFrames > MaxCachedFrames) DropCaches();
                int mode = misc & PerfFormat.MiscCpuModeMask;
                bool kernelMode = mode is PerfFormat.MiscKernel or PerfFormat.MiscGuestKernel;
                _maps.TryGetValue(pid, out var maps);
                PerfFrame[] chain = Array.Empty<PerfFrame>();
                if ((st & PerfFormat.SampleCallchain) != 0)
                {
                    ulong nr = U64(r, p);
                    p += 8;
                    if (nr > (ulong)((size - p) / 8)) throw PerfDataFile.Corrupt(_file.Path, $"the sample at offset {off} claims {nr} call-chain entries");
                    var entries = r.Slice(p, (int)nr * 8);
                    if (_chainBuffer.Length < (int)nr) _chainBuffer = new PerfFrame[(int)nr];
                    int count = 0, userAt = -1;
                    bool kernel = kernelMode;
                    for (int i = 0; i < entries.Length; i += 8)
                    {
                        ulong f = BinaryPrimitives.ReadUInt64LittleEndian(entries[i..]);
                        if (f >= PerfFormat.ContextMax)
                        {
                            if (f == PerfFormat.ContextKernel || f == PerfFormat.ContextGuestKernel) kernel = true;
                            else if (f == PerfFormat.ContextUser || f == PerfFormat.ContextGuestUser) { kernel = false; if (userAt < 0) userAt = count; }
                            else if (f is not (PerfFormat.ContextHv or PerfFormat.ContextGuest))
                            {
                                count = 0; // an invalid context: perf drops the whole chain
                                break;
                            }
                            continue;
                        }
                        _chainBuffer[count++] = kernel ? ResolveKernel(f) : ResolveUser(pid, maps, f);
                    }
                    p += (int)nr * 8;
                    // DWARF call graphs (perf record --call-graph dwarf): the user part is unwound from the sampled registers and stack.
                    if ((st & DwarfSampleBits) == DwarfSampleBits) count = UnwindUser(off, r, p, layout, pid, maps, count);
                    // LBR call stacks (perf record --call-graph lbr): the user part comes from the branch stack.
                    else if (userAt >= 0 && LbrCallStack(layout)) count = LbrUser(off, r, p, layout, pid, maps, userAt);
                    if (count > 0)
                    {
                        chain = new PerfFrame[count];
                        Array.Copy(_chainBuffer, chain, count);
                    }
                }
                var top = kernelMode ? ResolveKernel(ip) : ResolveUser(pid, maps, ip);
                var comm = CommOf(pid, tid);
                if ((st & PerfFormat.SampleRead) == 0)
                {
                    var attr = _file.Attrs.Count == 1 || !_byId.TryGetValue(id, out var a) ? layout.Attr : a.Attr;
                    SampleCount++;
                    output.Add(new PerfSample
                    {
                        Timestamp = time, ProcessId = pid, ThreadId = tid, Cpu = cpu, Period = period, Event = attr.Name, Comm = comm,
                        Ip = ip, Symbol = top.Symbol, Dso = top.Dso, Offset = top.Offset, SymbolOffset = top.SymbolOffset, CallChain = chain,
                    });
                    return;
                }
                // As perf: one sample per value read, for the event whose id it carries, with the increase since that
                // event's previous value as its period; an unknown id or no increase gives none.
                for (int i = 0; i < values; i++)
                {
                    var (value, vid) = _readValues[i];
                    if (!_byId.TryGetValue(vid, out var owner)) { _unknownIdValues++; continue; }
                    ulong delta = value - _lastRead.GetValueOrDefault(vid);
                    _lastRead[vid] = value;
                    if (delta == 0) continue;
                    var attr = owner.Attr;
                    SampleCount++;
                    output.Add(new PerfSample
                    {
                        Timestamp = time, ProcessId = pid, ThreadId = tid, Cpu = cpu, Period = delta, Event = attr.Name, Comm = comm,
                        Ip = ip, Symbol = top.Symbol, Dso = top.Dso, Offset = top.Offset, SymbolOffset = top.SymbolOffset, CallChain = chain,
                    });
                }
            }
            catch (ArgumentOutOfRangeException)
            {
                throw PerfDataFile.Corrupt(_file.Path, $"the sample at offset {off} is shorter than its sample type says");
            }
        }

        private string CommOf(int pid, int tid)
        {
            if (_comms.TryGetValue(tid, out var c) || _comms.TryGetValue(pid, out c)) return c;
            return tid == 0 ? "swapper" : ":" + tid.ToString(CultureInfo.InvariantCulture);
        }

        /// <summary>Bounds the caches' memory: a long recording of many short-lived JITs would otherwise grow them without end.</summary>
        private void DropCaches()
        {
            _kernelFrames.Clear();
            _unmappedFrames.Clear();
            _jitFrames.Clear();
            Array.Clear(_hot);
            _cacheEpoch++;
            _cachedFrames = 0;
        }

        private readonly MapList _ksymbols = new();
        private readonly MapList _modules = new();

        /// <summary>perf's name for a kernel module's map: [name], from the .ko path ('-' as '_'), or the bracketed name as given.</summary>
        internal static string? ModuleDso(string path)
        {
            if (path.StartsWith("[kernel.kallsyms]", StringComparison.Ordinal) || path.StartsWith("[guest.kernel", StringComparison.Ordinal) || path.Length == 0) return null;
            if (path[0] == '[') return path.EndsWith(']') ? path : null;
            var name = System.IO.Path.GetFileName(path);
            int ko = name.IndexOf(".ko", StringComparison.Ordinal);
            if (ko <= 0) return null;
            return "[" + name[..ko].Replace('-', '_') + "]";
        }

        /// <summary>
        /// The last frame resolved at a slot's addresses, with the mappings (and their version) it was resolved in:
        /// most frames of a profile repeat, and this answers them without a map search or a dictionary lookup.
        /// </summary>
        private struct HotFrame
        {
            public ulong Ip;
            public MapList? Maps;
            public int Version;
            public PerfFrame? Frame;
        }

        private const int HotSlots = 4096;
        private readonly HotFrame[] _hot = new HotFrame[HotSlots];

        private static int HotSlot(ulong ip) => (int)((ip ^ (ip >> 12) ^ (ip >> 24)) & (HotSlots - 1));

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private PerfFrame ResolveKernel(ulong ip)
        {
            ref var hot = ref _hot[HotSlot(ip)];
            if (hot.Ip == ip && ReferenceEquals(hot.Maps, _ksymbols) && hot.Version == _ksymbols.Version) return hot.Frame!;
            if (!_kernelFrames.TryGetValue(ip, out var f))
            {
                f = ResolveKernelUncached(ip);
                _kernelFrames[ip] = f;
                _cachedFrames++;
            }
            hot = new HotFrame { Ip = ip, Maps = _ksymbols, Version = _ksymbols.Version, Frame = f };
            return f;
        }

        private PerfFrame ResolveKernelUncached(ulong ip)
        {
            if (_ksymbols.Find(ip) is { } k) return new PerfFrame(ip, k.Path, k.Path, ip, ip - k.Start, true);
            var moduleMap = _modules.Find(ip);
            string dso = moduleMap?.Path ?? "[kernel.kallsyms]";
            // This host's kallsyms name the recorded kernel only if it is this boot's: else [unknown], as perf leaves it.
            if (!_kernelGiven && !(_kernelHere ??= KernelIsThisBoot())) return new PerfFrame(ip, "[unknown]", dso, ip, 0, true);
            // A given kernel's symbols are moved to where the recording's kernel was (KASLR), as perf relocates by _text;
            // modules load at their own addresses, so theirs are not moved.
            if (_vmlinux is not null)
            {
                ulong vdelta = moduleMap is null ? unchecked(VmlinuxText - _recordedText) : 0;
                ulong vstart = 0;
                var name = _recordedText == 0 && VmlinuxText != 0 ? null : _vmlinux.Table.Find(unchecked(ip + vdelta), out vstart);
                return name is null ? new PerfFrame(ip, "[unknown]", dso, ip, 0, true) : new PerfFrame(ip, name, dso, ip, unchecked(ip + vdelta - vstart), true);
            }
            ulong delta = _kernelGiven && moduleMap is null && _recordedText != 0 && _kernel.AddressOf("_text") is { } given ? unchecked(given - _recordedText) : 0;
            if (_kernel.Find(unchecked(ip + delta)) is not { } sym) return new PerfFrame(ip, "[unknown]", dso, ip, 0, true);
            if (moduleMap is null && sym.Module is not null) dso = $"[{sym.Module}]";
            return new PerfFrame(ip, sym.Name, dso, ip, unchecked(ip + delta - sym.Address), true);
        }

        private ulong? _vmlinuxTextValue;

        /// <summary>The vmlinux's link-time _text (0 when it has none).</summary>
        private ulong VmlinuxText => _vmlinuxTextValue ??= _vmlinux?.SymbolValue("_text") ?? 0;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private PerfFrame ResolveUser(int pid, MapList? maps, ulong ip)
        {
            // A MapList belongs to one process (a forked child gets a copy), so it stands for the pid too.
            ref var hot = ref _hot[HotSlot(ip)];
            if (maps is not null && hot.Ip == ip && ReferenceEquals(hot.Maps, maps) && hot.Version == maps.Version) return hot.Frame!;
            var f = ResolveUserCached(pid, maps, ip);
            if (maps is not null) hot = new HotFrame { Ip = ip, Maps = maps, Version = maps.Version, Frame = f };
            return f;
        }

        private PerfFrame ResolveUserCached(int pid, MapList? maps, ulong ip)
        {
            PerfFrame? f;
            if (maps?.Find(ip) is not { } map)
            {
                if (!_unmappedFrames.TryGetValue(ip, out f))
                {
                    _unmappedFrames[ip] = f = new PerfFrame(ip, "[unknown]", "[unknown]", ip, 0, false);
                    _cachedFrames++;
                }
                return f;
            }
            if (map.Anonymous)
            {
                // The JIT's symbol file belongs to the process, and a forked child shares the parent's Map: key by pid.
                if (!_jitFrames.TryGetValue((pid, ip), out f))
                {
                    _jitFrames[(pid, ip)] = f = ResolveJit(pid, ip);
                    _cachedFrames++;
                }
                return f;
            }
            var frames = map.FramesFor(_cacheEpoch);
            if (!frames.TryGetValue(ip, out f))
            {
                frames[ip] = f = ResolveInMap(map, ip);
                _cachedFrames++;
            }
            return f;
        }

        private static PerfFrame ResolveJit(int pid, ulong ip)
        {
            // perf names anonymous executable memory after the JIT's symbol file and keeps addresses as they are.
            var jitPath = $"/tmp/perf-{pid}.map";
            var jit = PerfMapSymbols.Get(jitPath).Find(ip, out var jitStart);
            return new PerfFrame(ip, jit ?? "[unknown]", jitPath, ip, jit is null ? 0 : ip - jitStart, false);
        }

        private PerfFrame ResolveInMap(Map map, ulong ip)
        {
            ulong mapIp = ip - map.Start + map.Pgoff;
            if (map.Path == "[vdso]")
            {
                // perf maps [vdso] with pgoff 0 whatever the record says: the image starts at the map.
                mapIp = ip - map.Start;
                var vdso = ElfFile.Vdso;
                var vname = vdso.Table.Find(vdso.OffsetToAddress(mapIp), out var vstart);
                return new PerfFrame(ip, vname ?? "[unknown]", map.Path, mapIp, vname is null ? 0 : vdso.OffsetToAddress(mapIp) - vstart, false);
            }
            if (map.Path.Length == 0 || map.Path[0] == '[' || map.Path.StartsWith("//", StringComparison.Ordinal))
                return new PerfFrame(ip, "[unknown]", map.Path, mapIp, 0, false);
            var elf = map.Symbols ??= SymbolsOf(map);
            ulong addr = elf.OffsetToAddress(mapIp);
            var name = elf.Table.Find(addr, out var start);
            return new PerfFrame(ip, name ?? "[unknown]", map.Path, mapIp, name is null ? 0 : addr - start, false);
        }

        private bool? _kernelHere;
        private ulong _recordedText;
        private readonly Dictionary<(string Path, string Id), ElfFile> _checkedFiles = new();

        /// <summary>
        /// Whether the recording's kernel is the one running now, in this boot: the same build-id (or, without one,
        /// the same host name and release), and the same _text address (KASLR moves it every boot).
        /// </summary>
        private bool KernelIsThisBoot()
        {
            if (_file.KernelBuildId is { } recorded)
            {
                if (HostKernelBuildId() is { } here && here != recorded) return false;
            }
            else
            {
                var host = _file.FeatureString(PerfFormat.FeatHostname);
                var release = _file.FeatureString(PerfFormat.FeatOsRelease);
                if (host is not null && host != Environment.MachineName && host != ReadTrimmed("/proc/sys/kernel/hostname")) return false;
                if (release is not null && ReadTrimmed("/proc/sys/kernel/osrelease") is { } here && release != here) return false;
            }
            if (_recordedText != 0 && _kernel.AddressOf("_text") is { } text and not 0 && text != _recordedText) return false;
            return true;
        }

        private static string? ReadTrimmed(string path)
        {
            try { return File.ReadAllText(path).Trim(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        }

        private static string? _hostKernelBuildId;
        private static bool _hostKernelBuildIdRead;

        /// <summary>The running kernel's GNU build-id note, from /sys/kernel/notes.</summary>
        internal static string? HostKernelBuildId()
        {
            if (_hostKernelBuildIdRead) return _hostKernelBuildId;
            try
            {
                var n = File.ReadAllBytes("/sys/kernel/notes");
                for (int at = 0; at + 12 <= n.Length;)
                {
                    int nameSize = BinaryPrimitives.ReadInt32LittleEndian(n.AsSpan(at)), descSize = BinaryPrimitives.ReadInt32LittleEndian(n.AsSpan(at + 4));
                    int type = BinaryPrimitives.ReadInt32LittleEndian(n.AsSpan(at + 8));
                    int name = at + 12, desc = name + ((nameSize + 3) & ~3);
                    if (nameSize < 0 || descSize < 0 || desc + descSize > n.Length) break;
                    if (type == 3 && nameSize == 4 && n.AsSpan(name, 3).SequenceEqual("GNU"u8))
                    {
                        _hostKernelBuildId = Convert.ToHexString(n, desc, descSize).ToLowerInvariant();
                        break;
                    }
                    at = desc + ((descSize + 3) & ~3);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            _hostKernelBuildIdRead = true;
            return _hostKernelBuildId;
        }

        /// <summary>
        /// The symbols of a mapped file, only from a file whose build-id is the recorded one (perf's rule): under the
        /// -SymbolPath roots, at its path here, in perf's build-id cache or /usr/lib/debug/.build-id. Without a recorded
        /// build-id, the file at its path (perf does the same). No match: [unknown], never another binary's names.
        /// </summary>
        private ElfFile SymbolsOf(Map map)
        {
            string? id = map.BuildId ?? (_file.BuildIds.TryGetValue(map.Path, out var b) ? b : null);
            if (id is null || id.Length < 3)
            {
                // A file deleted or replaced since the recording: perf record keeps a copy in its build-id cache.
                var source = File.Exists(map.Path) ? map.Path : BuildIdCacheCopy(map.Path) ?? map.Path;
                return ElfFile.TryOpen(source) ?? ElfFile.None(map.Path);
            }
            if (_checkedFiles.TryGetValue((map.Path, id), out var known)) return known;
            ElfFile? found = null;
            foreach (var candidate in SymbolCandidates(map.Path, id))
            {
                if (!File.Exists(candidate)) continue;
                if (ElfFile.TryOpen(candidate) is { } e && e.BuildId == id) { found = e; break; }
            }
            return _checkedFiles[(map.Path, id)] = found ?? ElfFile.None(map.Path);
        }

        /// <summary>The newest copy perf record saved of a file in ~/.debug/&lt;path&gt;/&lt;build id&gt;/elf, or null.</summary>
        internal static string? BuildIdCacheCopy(string path)
        {
            if (!path.StartsWith('/')) return null;
            try
            {
                var dir = System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".debug") + path;
                if (!Directory.Exists(dir)) return null;
                return Directory.GetDirectories(dir).Select(d => System.IO.Path.Combine(d, "elf")).Where(File.Exists)
                    .OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault();
            }
            catch (IOException) { return null; }
            catch (UnauthorizedAccessException) { return null; }
        }

        private IEnumerable<string> SymbolCandidates(string path, string id)
        {
            string dir = id[..2], rest = id[2..];
            foreach (var root in _symbolPath)
            {
                yield return System.IO.Path.Join(root, path);
                yield return System.IO.Path.Join(root, ".build-id", dir, rest + ".debug");
                yield return System.IO.Path.Join(root, ".build-id", dir, rest, "elf");
            }
            yield return path;
            var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            yield return System.IO.Path.Join(home, ".debug", ".build-id", dir, rest, "elf");
            yield return System.IO.Path.Join(home, ".debug", ".build-id", dir, rest);
            yield return $"/usr/lib/debug/.build-id/{dir}/{rest}.debug";
        }

        private static bool IsAnonymous(string path) =>
            path == "//anon" || path.StartsWith("/dev/zero", StringComparison.Ordinal) || path.StartsWith("/anon_hugepage", StringComparison.Ordinal);

        /// <summary>
        /// One mapping, with what was resolved in it: its file's symbols and a frame per address. Pieces of a mapping
        /// split by a newer one share these (an address resolves the same in either piece).
        /// </summary>
        private sealed class Map
        {
            private Dictionary<ulong, PerfFrame>? _frames;
            private int _epoch;

            public Map(ulong start, ulong end, ulong pgoff, string path) : this(start, end, pgoff, path, null) { }

            private Map(ulong start, ulong end, ulong pgoff, string path, Map? from)
            {
                Start = start; End = end; Pgoff = pgoff; Path = path; Anonymous = IsAnonymous(path);
                if (from is not null) { Symbols = from.Symbols; _frames = from._frames; _epoch = from._epoch; BuildId = from.BuildId; Cfi = from.Cfi; }
            }

            public ulong Start { get; }
            public ulong End { get; }
            public ulong Pgoff { get; }
            public string Path { get; }
            public bool Anonymous { get; }
            public ElfFile? Symbols { get; set; }
            /// <summary>The CFI of the mapped file (DWARF unwinding), once looked up.</summary>
            public Unwind.CallFrameInfo? Cfi { get; set; }
            public bool CfiLooked { get; set; }
            /// <summary>The build-id the MMAP2 record carried, if any.</summary>
            public string? BuildId { get; init; }

            public bool SameAs(Map other) => Start == other.Start && End == other.End && Pgoff == other.Pgoff && Path == other.Path;

            /// <summary>A piece of this mapping, keeping what was resolved in it.</summary>
            public Map Piece(ulong start, ulong end) => new(start, end, Pgoff + (start - Start), Path, this);

            public Dictionary<ulong, PerfFrame> FramesFor(int epoch)
            {
                if (_frames is null || _epoch != epoch) { _frames = new Dictionary<ulong, PerfFrame>(); _epoch = epoch; }
                return _frames;
            }
        }

        /// <summary>One process's mappings, sorted, a new mapping replacing whatever it overlaps.</summary>
        private sealed class MapList
        {
            private readonly List<Map> _maps = new();
            private Map? _last;

            /// <summary>Changes whenever the mappings do.</summary>
            public int Version { get; private set; }

            public MapList Clone()
            {
                var m = new MapList();
                m._maps.AddRange(_maps);
                return m;
            }

            public void Remove(ulong start)
            {
                _maps.RemoveAll(m => m.Start == start);
                _last = null;
                Version++;
            }

            public void Add(Map map)
            {
                _last = null;
                // The maps are sorted and disjoint, so their ends are sorted too: the first that ends after the new
                // start is the first it can overlap.
                int lo = 0, hi = _maps.Count;
                while (lo < hi)
                {
                    int mid = (lo + hi) >>> 1;
                    if (_maps[mid].End <= map.Start) lo = mid + 1;
                    else hi = mid;
                }
                int first = lo, last = lo;
                if (first < _maps.Count && _maps[first].SameAs(map)) return; // announced again: keep it and what was resolved in it
                Version++;
                while (last < _maps.Count && _maps[last].Start < map.End) last++;
                Map? before = null, after = null;
                if (last > first)
                {
                    if (_maps[first].Start < map.Start) before = _maps[first].Piece(_maps[first].Start, map.Start);
                    if (_maps[last - 1].End > map.End) after = _maps[last - 1].Piece(map.End, _maps[last - 1].End);
                    _maps.RemoveRange(first, last - first);
                }
                if (after is not null) _maps.Insert(first, after);
                _maps.Insert(first, map);
                if (before is not null) _maps.Insert(first, before);
            }

            [MethodImpl(MethodImplOptions.AggressiveOptimization)]
            public Map? Find(ulong ip)
            {
                // Consecutive frames are often in one file: try the last hit first.
                var last = _last;
                if (last is not null && ip >= last.Start && ip < last.End) return last;
                int lo = 0, hi = _maps.Count - 1;
                while (lo <= hi)
                {
                    int mid = (lo + hi) >>> 1;
                    var m = _maps[mid];
                    if (ip < m.Start) hi = mid - 1;
                    else if (ip >= m.End) lo = mid + 1;
                    else return _last = m;
                }
                return null;
            }
        }
    }
}
