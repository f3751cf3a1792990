using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using KernelDebug.Perf;

namespace KernelDebug.Perf
{
    /// <summary>
    /// Decodes the records of a perf.data file into samples, as perf script does: orders them by time within perf's
    /// rounds, follows COMM, FORK, EXIT, MMAP and MMAP2 to know each thread's name and each process's mappings, and
    /// symbolizes user addresses from the mapped ELF files and kernel addresses from /proc/kallsyms.
    /// </summary>
    public sealed unsafe class PerfDataDecoder
    {
        private readonly PerfDataFile _file;
        private readonly KernelSymbols _kernel;
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

        public PerfDataDecoder(PerfDataFile file, KernelSymbols? kernel = null)
        {
            _file = file;
            _kernel = kernel ?? KernelSymbols.Current;
            _first = new Layout(file.Attrs[0]);
            _identifier = file.Attrs.All(a => (a.SampleType & PerfFormat.SampleIdentifier) != 0);
            foreach (var a in file.Attrs)
            {
                if (a.SampleType != _first.SampleType && !_identifier)
                    throw PerfDataFile.Corrupt(file.Path, "its events have different sample types without PERF_SAMPLE_IDENTIFIER, which perf itself refuses");
                var layout = ReferenceEquals(a, file.Attrs[0]) ? _first : new Layout(a);
                foreach (var id in a.Ids) _byId.TryAdd(id, layout);
            }
        }

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
            Offset = _file.DataOffset, End = _file.DataOffset + _file.DataSize,
            Timed = _file.Attrs.All(a => (a.SampleType & PerfFormat.SampleTime) != 0),
        };

        /// <summary>Reads records up to the end of a round (or a batch, for untimed files) and adds their samples to ready.</summary>
        // The hot path is compiled optimized at once (AggressiveOptimization): a decode in a fresh session would
        // otherwise spend its first half-second in tier-0 code.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void NextBatch(Cursor c, List<PerfSample> ready)
        {
            long off = c.Offset, end = c.End;
            while (off < end)
            {
                if (off + 8 > end) throw PerfDataFile.Corrupt(_file.Path, $"a record header at offset {off} is cut off (truncated?)");
                var hdr = _file.Span(off, 8);
                uint type = BinaryPrimitives.ReadUInt32LittleEndian(hdr);
                ushort size = BinaryPrimitives.ReadUInt16LittleEndian(hdr[6..]);
                if (size < 8) throw PerfDataFile.Corrupt(_file.Path, $"the record at offset {off} has size {size}");
                if (off + size > end) throw PerfDataFile.Corrupt(_file.Path, $"the record at offset {off} (type {type}, {size} bytes) runs past the end of the data (truncated?)");
                if ((++Records & 0x3fff) == 0) { c.Cancel.ThrowIfCancellationRequested(); Volatile.Write(ref _bytesRead, off - _file.DataOffset); }
                if (type == PerfFormat.RecordCompressed)
                    throw new Native.KernelDebugException($"'{_file.Path}' holds compressed records (perf record -z); decompress it first with: perf inject -i {_file.Path} -o uncompressed.data",
                        "PerfDataCompressed", System.Management.Automation.ErrorCategory.NotImplemented) { Target = _file.Path };
                if (type == PerfFormat.RecordFinishedRound && c.Timed)
                {
                    Flush(c.Pending, c.PreviousRoundMax, ready, c.Cancel);
                    c.PreviousRoundMax = c.MaxTime;
                    if (ready.Count > 0) { c.Offset = off + size; Volatile.Write(ref _bytesRead, c.Offset - _file.DataOffset); return; }
                }
                else if (type < 64 && Interesting(type))
                {
                    if (!c.Timed)
                    {
                        if (Process(off) is { } s) ready.Add(s);
                        if (ready.Count >= 4096) { c.Offset = off + size; Volatile.Write(ref _bytesRead, c.Offset - _file.DataOffset); return; }
                    }
                    else
                    {
                        ulong t = TimeOf(type, off, size);
                        if (t > c.MaxTime) c.MaxTime = t;
                        c.Pending.Add(new Pending(t, off, c.Seq++));
                    }
                }
                off += size;
            }
            c.Offset = off;
            Volatile.Write(ref _bytesRead, off - _file.DataOffset);
            c.Done = true;
            Flush(c.Pending, ulong.MaxValue, ready, c.Cancel);
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
                if (Process(span[n].Offset) is { } s) output.Add(s);
                if ((++n & 0x3fff) == 0) cancel.ThrowIfCancellationRequested();
            }
            pending.RemoveRange(0, n);
        }

        private Pending[]? _sortScratch;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private ulong TimeOf(uint type, long off, int size)
        {
            var r = _file.Span(off, size);
            var l = LayoutOf(type, r);
            if (type == PerfFormat.RecordSample)
                return l.SampleTimeOffset >= 0 && l.SampleTimeOffset + 8 <= size ? U64(r, l.SampleTimeOffset) : 0;
            if (l.TrailerTimeOffset < 0 || size < 8 + l.TrailerSize) return 0;
            return U64(r, size - l.TrailerSize + l.TrailerTimeOffset);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private PerfSample? Process(long off)
        {
            var hdr = _file.Span(off, 8);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(hdr);
            ushort misc = BinaryPrimitives.ReadUInt16LittleEndian(hdr[4..]);
            int size = BinaryPrimitives.ReadUInt16LittleEndian(hdr[6..]);
            var r = _file.Span(off, size);
            switch (type)
            {
                case PerfFormat.RecordSample: return Sample(off, r, misc);
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
                    AddMap(BinaryPrimitives.ReadInt32LittleEndian(r[8..]), U64(r, 16), U64(r, 24), U64(r, 32), CString(r[72..]), misc);
                    break;
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
            return null;
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

        private void AddMap(int pid, ulong start, ulong len, ulong pgoff, string path, ushort misc)
        {
            int mode = misc & PerfFormat.MiscCpuModeMask;
            if (mode is PerfFormat.MiscKernel or PerfFormat.MiscGuestKernel || pid == -1) return; // kernel and modules: kallsyms
            MapsOf(pid).Add(new Map(start, start + len, pgoff, path));
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private PerfSample? Sample(long off, ReadOnlySpan<byte> r, ushort misc)
        {
            var layout = LayoutOf(PerfFormat.RecordSample, r);
            ulong st = layout.SampleType;
            int p = 8, size = r.Length;
            ulong ip = 0, time = 0, period = 0, id = 0;
            int pid = -1, tid = -1, cpu = -1;
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
                    if (layout.ReadSize >= 0) p += layout.ReadSize;
                    else
                    {
                        ulong nr = U64(r, p);
                        ulong rf = layout.Attr.ReadFormat;
                        int per = 8 * (1 + Bit(rf, PerfFormat.FormatId) + Bit(rf, PerfFormat.FormatLost));
                        p += 8 * (1 + Bit(rf, PerfFormat.FormatTotalTimeEnabled) + Bit(rf, PerfFormat.FormatTotalTimeRunning)) + (int)Math.Min(nr, 65536) * per;
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
                    int count = 0;
                    bool kernel = kernelMode;
                    for (int i = 0; i < entries.Length; i += 8)
                    {
                        ulong f = BinaryPrimitives.ReadUInt64LittleEndian(entries[i..]);
                        if (f >= PerfFormat.ContextMax)
                        {
                            if (f == PerfFormat.ContextKernel || f == PerfFormat.ContextGuestKernel) kernel = true;
                            else if (f == PerfFormat.ContextUser || f == PerfFormat.ContextGuestUser) kernel = false;
                            else if (f is not (PerfFormat.ContextHv or PerfFormat.ContextGuest))
                            {
                                count = 0; // an invalid context: perf drops the whole chain
                                break;
                            }
                            continue;
                        }
                        _chainBuffer[count++] = kernel ? ResolveKernel(f) : ResolveUser(pid, maps, f);
                    }
                    if (count > 0)
                    {
                        chain = new PerfFrame[count];
                        Array.Copy(_chainBuffer, chain, count);
                    }
                }
                var top = kernelMode ? ResolveKernel(ip) : ResolveUser(pid, maps, ip);
                SampleCount++;
                var attr = _file.Attrs.Count == 1 || !_byId.TryGetValue(id, out var a) ? layout.Attr : a.Attr;
                return new PerfSample
                {
                    Timestamp = time, ProcessId = pid, ThreadId = tid, Cpu = cpu, Period = period, Event = attr.Name,
                    Comm = CommOf(pid, tid),
                    Ip = ip, Symbol = top.Symbol, Dso = top.Dso, Offset = top.Offset, SymbolOffset = top.SymbolOffset, CallChain = chain,
                };
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
            var stored = _kernel.Table.Find(ip, out var start);
            if (stored is null) return new PerfFrame(ip, "[unknown]", "[kernel.kallsyms]", ip, 0, true);
            var module = KernelSymbols.ModuleOf(stored);
            return new PerfFrame(ip, KernelSymbols.NameOf(stored), module is null ? "[kernel.kallsyms]" : $"[{module}]", ip, ip - start, true);
        }

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
            var jit = SymbolCache.GetPerfMap(jitPath).Find(ip, out var jitStart);
            return new PerfFrame(ip, jit ?? "[unknown]", jitPath, ip, jit is null ? 0 : ip - jitStart, false);
        }

        private static PerfFrame ResolveInMap(Map map, ulong ip)
        {
            ulong mapIp = ip - map.Start + map.Pgoff;
            if (map.Path == "[vdso]")
            {
                var vdso = SymbolCache.Vdso;
                var vname = vdso.Table.Find(vdso.OffsetToAddress(mapIp), out var vstart);
                return new PerfFrame(ip, vname ?? "[unknown]", map.Path, mapIp, vname is null ? 0 : vdso.OffsetToAddress(mapIp) - vstart, false);
            }
            if (map.Path.Length == 0 || map.Path[0] == '[' || map.Path.StartsWith("//", StringComparison.Ordinal))
                return new PerfFrame(ip, "[unknown]", map.Path, mapIp, 0, false);
            var elf = map.Symbols ??= SymbolCache.Get(map.Path);
            ulong addr = elf.OffsetToAddress(mapIp);
            var name = elf.Table.Find(addr, out var start);
            return new PerfFrame(ip, name ?? "[unknown]", map.Path, mapIp, name is null ? 0 : addr - start, false);
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
                if (from is not null) { Symbols = from.Symbols; _frames = from._frames; _epoch = from._epoch; }
            }

            public ulong Start { get; }
            public ulong End { get; }
            public ulong Pgoff { get; }
            public string Path { get; }
            public bool Anonymous { get; }
            public ElfSymbols? Symbols { get; set; }

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
