using System.Buffers.Binary;
using System.Management.Automation;
using KernelDebug.Native;

namespace KernelDebug.Bpf;

/// <summary>Takes one record (valid only during the call) and the CPU it came from; false stops the reading.</summary>
public delegate bool BpfRecordHandler(ReadOnlySpan<byte> record, int cpu);

/// <summary>A record as it came out of the kernel, when no BTF type decodes it.</summary>
public sealed class BpfRawEvent
{
    public string Map { get; init; } = "";
    /// <summary>The CPU whose perf buffer held it; -1 for the ring buffer (one for all CPUs).</summary>
    public int Cpu { get; init; }
    public int Size { get; init; }
    public ItemList<byte> Data { get; init; } = ItemList<byte>.Empty;
}

/// <summary>
/// Reads records from a BPF ring buffer map (one mmap'ed buffer shared by all CPUs; the data pages are mapped twice
/// so a record never wraps) or a perf event array (a BPF_OUTPUT perf event and its mmap'ed ring on each CPU).
/// Waits with poll(2) on the fds. Lost records (perf PERF_RECORD_LOST) are counted, never hidden.
/// </summary>
public sealed unsafe class BpfEventReader : IDisposable
{
    private const uint BusyBit = 1u << 31, DiscardBit = 1u << 30;
    private static readonly int PageSize = Environment.SystemPageSize;
    private readonly List<Ring> _rings = new();
    private readonly bool _ringbuf;
    private byte[] _scratch = new byte[4096];
    private bool _disposed;

    private sealed class Ring
    {
        public SafeFileDescriptor Fd = null!;
        public bool OwnsFd;
        public nint Consumer, Producer; // ringbuf: the two mappings; perf: Producer is the whole mapping
        public nuint ConsumerLen, ProducerLen;
        public ulong Mask;
        public int Cpu;
    }

    public string MapName { get; }
    public bool IsRingBuffer => _ringbuf;
    public long Received { get; private set; }
    public long Lost { get; private set; }
    public long Discarded { get; private set; }

    private BpfEventReader(string name, bool ringbuf)
    {
        MapName = name;
        _ringbuf = ringbuf;
    }

    /// <summary>Opens the reader on a ringbuf or perf_event_array map of a loaded object; perfPages per CPU (a power of two).</summary>
    public static BpfEventReader Open(BpfObjectMap map, int perfPages = 64)
    {
        uint type = map.Spec.Type;
        if (type is not (27 or 4))
            throw new KernelDebugException($"Map '{map.Name}' is a {map.Type} map; events come from ringbuf and perf_event_array maps.", "BpfMapNotAnEventMap", ErrorCategory.InvalidArgument) { Target = map.Name };
        var r = new BpfEventReader(map.Name, type == 27);
        try
        {
            if (r._ringbuf) r.OpenRingBuffer(map);
            else r.OpenPerfBuffers(map, perfPages);
        }
        catch
        {
            r.Dispose();
            throw;
        }
        return r;
    }

    private void OpenRingBuffer(BpfObjectMap map)
    {
        ulong size = map.MaxEntries;
        var ring = new Ring { Fd = map.Fd, Mask = size - 1, Cpu = -1 };
        ring.ConsumerLen = (nuint)PageSize;
        ring.Consumer = Interop.mmap(0, ring.ConsumerLen, Interop.PROT_READ | Interop.PROT_WRITE, Interop.MAP_SHARED, map.Fd, 0);
        if (ring.Consumer == Interop.MAP_FAILED) throw new KernelDebugException(Errno.Last, "mmap ring buffer consumer page", map.Name);
        _rings.Add(ring);
        ring.ProducerLen = (nuint)((ulong)PageSize + 2 * size);
        ring.Producer = Interop.mmap(0, ring.ProducerLen, Interop.PROT_READ, Interop.MAP_SHARED, map.Fd, PageSize);
        if (ring.Producer == Interop.MAP_FAILED) { ring.Producer = 0; throw new KernelDebugException(Errno.Last, "mmap ring buffer data", map.Name); }
    }

    private void OpenPerfBuffers(BpfObjectMap map, int pages)
    {
        if (pages <= 0 || (pages & (pages - 1)) != 0) throw new ArgumentException("The perf buffer size must be a power of two pages.", nameof(pages));
        int cpus = (int)Math.Min(map.MaxEntries, (uint)BpfMapReader.PossibleCpus());
        for (int cpu = 0; cpu < cpus; cpu++)
        {
            var attr = new PerfEventAttr
            {
                Type = (uint)PerfTypeId.Software, Config = 10 /* PERF_COUNT_SW_BPF_OUTPUT */, SampleType = 1UL << 10 /* PERF_SAMPLE_RAW */,
                SamplePeriodOrFreq = 1, WakeupEventsOrWatermark = 1,
            };
            int fd = Interop.perf_event_open(ref attr, -1, cpu, -1, Interop.PERF_FLAG_FD_CLOEXEC);
            if (fd < 0)
            {
                if (Errno.Last == Errno.ENODEV) continue; // an offline CPU
                throw new KernelDebugException(Errno.Last, "perf_event_open BPF_OUTPUT", $"cpu {cpu}") { Remedy = BpfInspector.BpfRemedy };
            }
            var ring = new Ring { Fd = new SafeFileDescriptor(fd), OwnsFd = true, Cpu = cpu, Mask = (ulong)(pages * PageSize) - 1 };
            _rings.Add(ring);
            ring.ProducerLen = (nuint)((pages + 1) * PageSize);
            ring.Producer = Interop.mmap(0, ring.ProducerLen, Interop.PROT_READ | Interop.PROT_WRITE, Interop.MAP_SHARED, ring.Fd, 0);
            if (ring.Producer == Interop.MAP_FAILED) { ring.Producer = 0; throw new KernelDebugException(Errno.Last, "mmap perf buffer", $"cpu {cpu}"); }
            var value = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(value, fd);
            BpfObject.UpdateElem(map.Fd, (uint)cpu, value, map.Name);
            Interop.Check(Interop.ioctl(ring.Fd, Interop.PERF_EVENT_IOC_ENABLE, 0), "ioctl PERF_EVENT_IOC_ENABLE", map.Name);
        }
    }

    /// <summary>Waits up to the timeout for data on any of the buffers. False when it timed out.</summary>
    public bool Wait(int timeoutMilliseconds)
    {
        var fds = stackalloc Interop.PollFd[_rings.Count];
        for (int i = 0; i < _rings.Count; i++) fds[i] = new Interop.PollFd { Fd = _rings[i].Fd.Fd, Events = Interop.POLLIN };
        int n = Interop.poll(fds, (nuint)_rings.Count, timeoutMilliseconds);
        if (n < 0 && Errno.Last != Errno.EINTR) throw new KernelDebugException(Errno.Last, "poll BPF event buffers", MapName);
        return n > 0;
    }

    /// <summary>Hands each available record to the callback (false from it stops early). Returns the number handed on.</summary>
    public int Consume(BpfRecordHandler onRecord, int max = int.MaxValue)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int n = 0;
        foreach (var ring in _rings)
        {
            n += _ringbuf ? ConsumeRingBuffer(ring, onRecord, max - n) : ConsumePerf(ring, onRecord, max - n);
            if (n >= max) break;
        }
        return n;
    }

    private int ConsumeRingBuffer(Ring ring, BpfRecordHandler onRecord, int max)
    {
        ulong* consumerPos = (ulong*)ring.Consumer;
        ulong* producerPos = (ulong*)ring.Producer;
        byte* data = (byte*)ring.Producer + PageSize;
        ulong cons = Volatile.Read(ref *consumerPos);
        int n = 0;
        try
        {
            while (n < max)
            {
                ulong prod = Volatile.Read(ref *producerPos);
                if (cons >= prod) break;
                byte* hdr = data + (cons & ring.Mask);
                uint len = Volatile.Read(ref *(uint*)hdr);
                if ((len & BusyBit) != 0) break; // still being written
                uint size = len & ~(BusyBit | DiscardBit);
                ulong next = cons + ((size + 8 + 7) & ~7UL);
                if ((len & DiscardBit) != 0) { Discarded++; cons = next; Volatile.Write(ref *consumerPos, cons); continue; }
                Received++;
                n++;
                bool more = onRecord(new ReadOnlySpan<byte>(hdr + 8, (int)size), -1);
                // The record is decoded (copied out): give its room back to the kernel now, as libbpf does per record,
                // not after the batch; a batch that waits on a full pipeline queue would otherwise keep the ring full.
                cons = next;
                Volatile.Write(ref *consumerPos, cons);
                if (!more) break;
            }
        }
        finally
        {
            Volatile.Write(ref *consumerPos, cons);
        }
        return n;
    }

    private int ConsumePerf(Ring ring, BpfRecordHandler onRecord, int max)
    {
        byte* page = (byte*)ring.Producer;
        ulong* headPtr = (ulong*)(page + 1024), tailPtr = (ulong*)(page + 1032);
        byte* data = page + PageSize;
        ulong size = ring.Mask + 1;
        ulong head = Volatile.Read(ref *headPtr);
        ulong tail = *tailPtr;
        int n = 0;
        try
        {
            while (tail < head && n < max)
            {
                // struct perf_event_header: u32 type, u16 misc, u16 size; a record may wrap the ring's end.
                var header = Read(data, size, tail, 8);
                uint type = BinaryPrimitives.ReadUInt32LittleEndian(header);
                int recSize = BinaryPrimitives.ReadUInt16LittleEndian(header[6..]);
                if (recSize < 8) break;
                var rec = Read(data, size, tail, recSize);
                tail += (ulong)recSize;
                if (type == 9 /* PERF_RECORD_SAMPLE: u32 size, raw bytes */ && rec.Length >= 12)
                {
                    int raw = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(rec[8..]), (uint)(rec.Length - 12));
                    Received++;
                    n++;
                    if (!onRecord(rec.Slice(12, raw), ring.Cpu)) break;
                }
                else if (type == 2 /* PERF_RECORD_LOST: u64 id, u64 lost */ && rec.Length >= 24)
                    Lost += (long)BinaryPrimitives.ReadUInt64LittleEndian(rec[16..]);
            }
        }
        finally
        {
            Volatile.Write(ref *tailPtr, tail);
        }
        return n;
    }

    private ReadOnlySpan<byte> Read(byte* data, ulong size, ulong pos, int len)
    {
        ulong at = pos & (size - 1);
        if (at + (ulong)len <= size) return new ReadOnlySpan<byte>(data + at, len);
        if (_scratch.Length < len) _scratch = new byte[Math.Max(len, _scratch.Length * 2)];
        int first = (int)(size - at);
        new ReadOnlySpan<byte>(data + at, first).CopyTo(_scratch);
        new ReadOnlySpan<byte>(data, len - first).CopyTo(_scratch.AsSpan(first));
        return _scratch.AsSpan(0, len);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var r in _rings)
        {
            if (r.Consumer != 0) Interop.munmap(r.Consumer, r.ConsumerLen);
            if (r.Producer != 0) Interop.munmap(r.Producer, r.ProducerLen);
            if (r.OwnsFd) r.Fd.Dispose();
        }
        _rings.Clear();
    }
}

/// <summary>
/// Turns records into objects through the object's BTF: the struct named by -Type, else the one struct of the record's
/// size (cached per size), else the raw bytes.
/// </summary>
public sealed class BpfEventDecoder
{
    private readonly BtfSpec? _btf;
    private readonly uint _type;
    private readonly string _map;
    private readonly Dictionary<int, uint> _bySize = new();

    public BpfEventDecoder(BtfSpec? btf, string? typeName, string map)
    {
        _btf = btf;
        _map = map;
        if (!string.IsNullOrEmpty(typeName))
        {
            if (btf is null) throw new KernelDebugException($"-Type '{typeName}' needs the object's BTF (compile with -g).", "BpfBtfMissing", ErrorCategory.InvalidOperation) { Target = typeName };
            string bare = typeName.StartsWith("struct ", StringComparison.Ordinal) ? typeName[7..] : typeName;
            var t = btf.Types.FirstOrDefault(x => x.Kind is BtfKind.Struct or BtfKind.Union && x.Name == bare)
                ?? btf.Types.FirstOrDefault(x => x.Kind == BtfKind.Typedef && x.Name == bare)
                ?? throw new KernelDebugException($"The object's BTF has no struct '{bare}' (it has {string.Join(", ", btf.Types.Where(x => x.Kind == BtfKind.Struct && x.Name.Length > 0).Select(x => x.Name).Distinct().Take(30))}).",
                    "BpfTypeNotFound", ErrorCategory.ObjectNotFound) { Target = typeName };
            _type = t.Id;
        }
    }

    public object Decode(byte[] record, int cpu) => Decode(record.AsSpan(), cpu);

    public object Decode(ReadOnlySpan<byte> record, int cpu)
    {
        uint type = _type;
        if (type == 0 && _btf is not null && !_bySize.TryGetValue(record.Length, out type))
        {
            int length = record.Length;
            // perf records are padded to 8 bytes: a struct up to 7 bytes smaller fits too.
            var fits = _btf.Types.Where(t => t.Kind == BtfKind.Struct && t.Name.Length > 0 && t.Size <= length && t.Size + 8 > length
                && !t.Name.StartsWith("bpf_", StringComparison.Ordinal) && !t.Name.StartsWith("trace_event_raw_", StringComparison.Ordinal)).ToList();
            var exact = fits.Where(t => t.Size == length).ToList();
            type = exact.Count == 1 ? exact[0].Id : exact.Count == 0 && fits.Count == 1 ? fits[0].Id : 0;
            _bySize[record.Length] = type;
        }
        if (type != 0)
        {
            // Variable-size records (execsnoop sends only the args it read): the rest of the struct reads as zeros.
            int size = (int)_btf!.SizeOf(type);
            if (size <= record.Length) return _btf.Decode(type, record)!;
            if (_type != 0)
            {
                var padded = new byte[size];
                record.CopyTo(padded);
                return _btf.Decode(type, padded)!;
            }
        }
        return new BpfRawEvent { Map = _map, Cpu = cpu, Size = record.Length, Data = record.ToArray() };
    }
}
