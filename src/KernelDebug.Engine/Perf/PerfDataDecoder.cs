using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using KernelDebug.Perf;

namespace KernelDebug
{
    /// <summary>One resolved address: the instruction pointer, its symbol and the file (DSO) it is in.</summary>
    public sealed class PerfFrame
    {
        public PerfFrame(ulong ip, string symbol, string dso, ulong offset, ulong symbolOffset, bool kernel)
        {
            Ip = ip; Symbol = symbol; Dso = dso; Offset = offset; SymbolOffset = symbolOffset; Kernel = kernel;
        }

        public ulong Ip { get; }
        /// <summary>The function, or [unknown] as perf prints it.</summary>
        public string Symbol { get; }
        /// <summary>The mapped file, [kernel.kallsyms], [module], or [unknown].</summary>
        public string Dso { get; }
        /// <summary>The address inside the DSO (what perf script prints for call-chain frames; objdump's address for the file).</summary>
        public ulong Offset { get; }
        /// <summary>The distance from the start of the symbol (perf's sym+0x…).</summary>
        public ulong SymbolOffset { get; }
        public bool Kernel { get; }

        public override string ToString() => $"{Symbol}+0x{SymbolOffset:x} ({Dso})";
    }

    /// <summary>One sample of a perf.data file, as perf script shows it.</summary>
    public sealed class PerfSample
    {
        /// <summary>The sample time in nanoseconds of perf's clock (perf script prints it as seconds).</summary>
        public ulong Timestamp { get; init; }
        public int ProcessId { get; init; }
        public int ThreadId { get; init; }
        public string Comm { get; init; } = string.Empty;
        /// <summary>The CPU, or -1 when the recording did not sample it.</summary>
        public int Cpu { get; init; }
        public string Event { get; init; } = string.Empty;
        public ulong Period { get; init; }
        public ulong Ip { get; init; }
        public string Symbol { get; init; } = "[unknown]";
        public string Dso { get; init; } = "[unknown]";
        public ulong Offset { get; init; }
        public ulong SymbolOffset { get; init; }
        /// <summary>Innermost frame first; empty when the recording has no call graph.</summary>
        public PerfFrame[] CallChain { get; init; } = Array.Empty<PerfFrame>();

        public double Time => Timestamp / 1e9;

        public override string ToString() => $"{Comm} {ProcessId}/{ThreadId} {Timestamp / 1e9:F6}: {Ip:x} {Symbol} ({Dso})";
    }
}

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
        private readonly Dictionary<(int Pid, int Generation, ulong Ip), PerfFrame> _frames = new();
        private readonly Dictionary<int, int> _generations = new();

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

        private readonly record struct Pending(ulong Time, long Offset, long Seq);

        /// <summary>Every sample, in time order within perf's flush rounds (as perf script orders them).</summary>
        public IEnumerable<PerfSample> Samples(CancellationToken cancel = default)
        {
            bool timed = _file.Attrs.All(a => (a.SampleType & PerfFormat.SampleTime) != 0);
            var pending = new List<Pending>();
            ulong maxTime = 0, previousRoundMax = 0;
            long seq = 0;
            long end = _file.DataOffset + _file.DataSize;
            long off = _file.DataOffset;
            var ready = new List<PerfSample>();
            while (off < end)
            {
                if (off + 8 > end) throw PerfDataFile.Corrupt(_file.Path, $"a record header at offset {off} is cut off (truncated?)");
                var hdr = _file.Span(off, 8);
                uint type = BinaryPrimitives.ReadUInt32LittleEndian(hdr);
                ushort size = BinaryPrimitives.ReadUInt16LittleEndian(hdr[6..]);
                if (size < 8) throw PerfDataFile.Corrupt(_file.Path, $"the record at offset {off} has size {size}");
                if (off + size > end) throw PerfDataFile.Corrupt(_file.Path, $"the record at offset {off} (type {type}, {size} bytes) runs past the end of the data (truncated?)");
                Records++;
                if (type == PerfFormat.RecordCompressed)
                    throw new Native.KernelDebugException($"'{_file.Path}' holds compressed records (perf record -z); decompress it first with: perf inject -i {_file.Path} -o uncompressed.data",
                        "PerfDataCompressed", System.Management.Automation.ErrorCategory.NotImplemented) { Target = _file.Path };
                if (type == PerfFormat.RecordFinishedRound && timed)
                {
                    Flush(pending, previousRoundMax, ready);
                    foreach (var s in ready) yield return s;
                    ready.Clear();
                    previousRoundMax = maxTime;
                    cancel.ThrowIfCancellationRequested();
                }
                else if (type < 64 && Interesting(type))
                {
                    if (!timed) { if (Process(off) is { } s) yield return s; }
                    else
                    {
                        ulong t = TimeOf(type, off, size);
                        if (t > maxTime) maxTime = t;
                        pending.Add(new Pending(t, off, seq++));
                    }
                }
                off += size;
            }
            Flush(pending, ulong.MaxValue, ready);
            foreach (var s in ready) yield return s;
        }

        private static bool Interesting(uint type) => type is PerfFormat.RecordSample or PerfFormat.RecordMmap or PerfFormat.RecordMmap2 or PerfFormat.RecordComm
            or PerfFormat.RecordFork or PerfFormat.RecordExit or PerfFormat.RecordLost or PerfFormat.RecordLostSamples or PerfFormat.RecordKsymbol;

        private void Flush(List<Pending> pending, ulong upTo, List<PerfSample> output)
        {
            if (pending.Count == 0) return;
            pending.Sort((a, b) => a.Time != b.Time ? a.Time.CompareTo(b.Time) : a.Seq.CompareTo(b.Seq));
            int n = 0;
            while (n < pending.Count && pending[n].Time <= upTo)
            {
                if (Process(pending[n].Offset) is { } s) output.Add(s);
                n++;
            }
            pending.RemoveRange(0, n);
        }

        private ulong TimeOf(uint type, long off, int size)
        {
            var r = _file.Span(off, size);
            var l = LayoutOf(type, r);
            if (type == PerfFormat.RecordSample)
                return l.SampleTimeOffset >= 0 && l.SampleTimeOffset + 8 <= size ? U64(r, l.SampleTimeOffset) : 0;
            if (l.TrailerTimeOffset < 0 || size < 8 + l.TrailerSize) return 0;
            return U64(r, size - l.TrailerSize + l.TrailerTimeOffset);
        }

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
                    if (pid != ppid && _maps.TryGetValue(ppid, out var parentMaps)) { _maps[pid] = parentMaps.Clone(); _generations[pid] = _generations.GetValueOrDefault(pid) + 1; }
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
                    if (unregister) _ksymbols.Remove(new Map(addr, addr + len, 0, name));
                    else _ksymbols.Add(new Map(addr, addr + len, 0, name));
                    _generations[-1] = _generations.GetValueOrDefault(-1) + 1;
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
            _generations[pid] = _generations.GetValueOrDefault(pid) + 1; // the caller changes them: cached frames of pid are stale
            if (!_maps.TryGetValue(pid, out var m)) _maps[pid] = m = new MapList();
            return m;
        }

        private void AddMap(int pid, ulong start, ulong len, ulong pgoff, string path, ushort misc)
        {
            int mode = misc & PerfFormat.MiscCpuModeMask;
            if (mode is PerfFormat.MiscKernel or PerfFormat.MiscGuestKernel || pid == -1) return; // kernel and modules: kallsyms
            MapsOf(pid).Add(new Map(start, start + len, pgoff, path));
        }

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
                PerfFrame[] chain = Array.Empty<PerfFrame>();
                int mode = misc & PerfFormat.MiscCpuModeMask;
                if ((st & PerfFormat.SampleCallchain) != 0)
                {
                    ulong nr = U64(r, p);
                    p += 8;
                    if (nr > (ulong)((size - p) / 8)) throw PerfDataFile.Corrupt(_file.Path, $"the sample at offset {off} claims {nr} call-chain entries");
                    var frames = new List<PerfFrame>((int)nr);
                    bool kernel = mode is PerfFormat.MiscKernel or PerfFormat.MiscGuestKernel;
                    for (int i = 0; i < (int)nr; i++)
                    {
                        ulong f = U64(r, p + i * 8);
                        if (f >= PerfFormat.ContextMax)
                        {
                            if (f == PerfFormat.ContextKernel || f == PerfFormat.ContextGuestKernel) kernel = true;
                            else if (f == PerfFormat.ContextUser || f == PerfFormat.ContextGuestUser) kernel = false;
                            else if (f is not (PerfFormat.ContextHv or PerfFormat.ContextGuest))
                            {
                                frames.Clear(); // an invalid context: perf drops the whole chain
                                break;
                            }
                            continue;
                        }
                        frames.Add(Resolve(pid, f, kernel));
                    }
                    chain = frames.ToArray();
                }
                var top = Resolve(pid, ip, mode is PerfFormat.MiscKernel or PerfFormat.MiscGuestKernel);
                SampleCount++;
                var attr = _file.Attrs.Count == 1 || !_byId.TryGetValue(id, out var a) ? layout.Attr : a.Attr;
                return new PerfSample
                {
                    Timestamp = time, ProcessId = pid, ThreadId = tid, Cpu = cpu, Period = period, Event = attr.Name,
                    Comm = _comms.TryGetValue(tid, out var c) ? c : _comms.TryGetValue(pid, out c) ? c : tid == 0 ? "swapper" : ":" + tid.ToString(CultureInfo.InvariantCulture),
                    Ip = ip, Symbol = top.Symbol, Dso = top.Dso, Offset = top.Offset, SymbolOffset = top.SymbolOffset, CallChain = chain,
                };
            }
            catch (ArgumentOutOfRangeException)
            {
                throw PerfDataFile.Corrupt(_file.Path, $"the sample at offset {off} is shorter than its sample type says");
            }
        }

        private PerfFrame Resolve(int pid, ulong ip, bool kernel)
        {
            var key = kernel ? (-1, _generations.GetValueOrDefault(-1), ip) : (pid, _generations.GetValueOrDefault(pid), ip);
            if (_frames.TryGetValue(key, out var f)) return f;
            f = kernel ? ResolveKernel(ip) : ResolveUser(pid, ip);
            if (_frames.Count > 1 << 20) _frames.Clear();
            _frames[key] = f;
            return f;
        }

        private readonly MapList _ksymbols = new();

        private PerfFrame ResolveKernel(ulong ip)
        {
            if (_ksymbols.Find(ip) is { } k) return new PerfFrame(ip, k.Path, k.Path, ip, ip - k.Start, true);
            var stored = _kernel.Table.Find(ip, out var start);
            if (stored is null) return new PerfFrame(ip, "[unknown]", "[kernel.kallsyms]", ip, 0, true);
            var module = KernelSymbols.ModuleOf(stored);
            return new PerfFrame(ip, KernelSymbols.NameOf(stored), module is null ? "[kernel.kallsyms]" : $"[{module}]", ip, ip - start, true);
        }

        private PerfFrame ResolveUser(int pid, ulong ip)
        {
            if (!_maps.TryGetValue(pid, out var maps) || maps.Find(ip) is not { } map)
                return new PerfFrame(ip, "[unknown]", "[unknown]", ip, 0, false);
            if (IsAnonymous(map.Path))
            {
                // perf names anonymous executable memory after the JIT's symbol file and keeps addresses as they are.
                var jitPath = $"/tmp/perf-{pid}.map";
                var jit = SymbolCache.GetPerfMap(jitPath).Find(ip, out var jitStart);
                return new PerfFrame(ip, jit ?? "[unknown]", jitPath, ip, jit is null ? 0 : ip - jitStart, false);
            }
            ulong mapIp = ip - map.Start + map.Pgoff;
            if (map.Path == "[vdso]")
            {
                var vdso = SymbolCache.Vdso;
                var vname = vdso.Table.Find(vdso.OffsetToAddress(mapIp), out var vstart);
                return new PerfFrame(ip, vname ?? "[unknown]", map.Path, mapIp, vname is null ? 0 : vdso.OffsetToAddress(mapIp) - vstart, false);
            }
            if (map.Path.Length == 0 || map.Path[0] == '[' || map.Path.StartsWith("//", StringComparison.Ordinal))
                return new PerfFrame(ip, "[unknown]", map.Path, mapIp, 0, false);
            var elf = SymbolCache.Get(map.Path);
            ulong addr = elf.OffsetToAddress(mapIp);
            var name = elf.Table.Find(addr, out var start);
            return new PerfFrame(ip, name ?? "[unknown]", map.Path, mapIp, name is null ? 0 : addr - start, false);
        }

        private static bool IsAnonymous(string path) =>
            path == "//anon" || path.StartsWith("/dev/zero", StringComparison.Ordinal) || path.StartsWith("/anon_hugepage", StringComparison.Ordinal);

        private readonly record struct Map(ulong Start, ulong End, ulong Pgoff, string Path);

        /// <summary>One process's mappings, sorted, a new mapping replacing whatever it overlaps.</summary>
        private sealed class MapList
        {
            private readonly List<Map> _maps = new();

            public MapList Clone()
            {
                var m = new MapList();
                m._maps.AddRange(_maps);
                return m;
            }

            public void Clear() => _maps.Clear();

            public void Remove(Map map) => _maps.RemoveAll(m => m.Start == map.Start);

            public void Add(Map map)
            {
                var kept = new List<Map>();
                foreach (var m in _maps)
                {
                    if (m.End <= map.Start || m.Start >= map.End) { kept.Add(m); continue; }
                    if (m.Start < map.Start) kept.Add(m with { End = map.Start });
                    if (m.End > map.End) kept.Add(new Map(map.End, m.End, m.Pgoff + (map.End - m.Start), m.Path));
                }
                kept.Add(map);
                kept.Sort((a, b) => a.Start.CompareTo(b.Start));
                _maps.Clear();
                _maps.AddRange(kept);
            }

            public Map? Find(ulong ip)
            {
                int lo = 0, hi = _maps.Count - 1;
                while (lo <= hi)
                {
                    int mid = (lo + hi) >>> 1;
                    var m = _maps[mid];
                    if (ip < m.Start) hi = mid - 1;
                    else if (ip >= m.End) lo = mid + 1;
                    else return m;
                }
                return null;
            }
        }
    }
}
