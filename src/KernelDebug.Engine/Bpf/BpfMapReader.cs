using System.Buffers.Binary;
using System.Management.Automation;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Bpf;

/// <summary>
/// Reads a map's entries through BPF_MAP_GET_NEXT_KEY and BPF_MAP_LOOKUP_ELEM, one entry at a time (bounded memory),
/// decoding keys and values through the map's BTF when it has some.
/// </summary>
public static class BpfMapReader
{
    // Map types whose key is a u32 index by definition (array, prog_array, perf_event_array, percpu_array, cgroup_array, array_of_maps).
    private static bool IsIndexed(uint type) => type is 2 or 3 or 4 or 6 or 8 or 12;

    /// <summary>The number of possible CPUs (the stride of per-CPU values), from /sys/devices/system/cpu/possible.</summary>
    public static int PossibleCpus()
    {
        var text = ControlFile.TryReadText("/sys/devices/system/cpu/possible", out _)?.Trim();
        if (string.IsNullOrEmpty(text)) return Environment.ProcessorCount;
        int max = 0;
        foreach (var part in text.Split(','))
        {
            var range = part.Split('-');
            if (int.TryParse(range[^1], out var hi)) max = Math.Max(max, hi);
        }
        return max + 1;
    }

    public static IEnumerable<BpfMapEntry> Read(uint mapId, bool raw = false)
    {
        using var fd = BpfInspector.Open(BpfInspector.Kind.Map, mapId);
        var info = BpfInspector.ReadMapInfo(fd);
        string name = Name(info);
        if (info.Type is 27 or 31 /* ringbuf, user_ringbuf */ or 30 /* bloom */ or 26 /* struct_ops */ or 33 /* arena */ or 22 or 23 /* queue, stack */)
            throw new KernelDebugException($"Map {mapId} ({name}) is a {BpfNames.MapType(info.Type)} map, which has no keys to list from user space.",
                "BpfMapNotIterable", ErrorCategory.InvalidOperation) { Target = mapId.ToString() };

        BtfSpec? btf = null;
        if (!raw && info.BtfId != 0 && (info.BtfKeyTypeId != 0 || info.BtfValueTypeId != 0))
        {
            try { btf = BpfInspector.LoadBtf(info.BtfId); }
            catch (KernelDebugException) { btf = null; }
        }
        bool perCpu = BpfNames.IsPerCpu(info.Type);
        int cpus = perCpu ? PossibleCpus() : 1;
        int stride = perCpu ? (int)((info.ValueSize + 7) & ~7u) : (int)info.ValueSize;
        var key = new byte[Math.Max(1, info.KeySize)];
        var nextKey = new byte[Math.Max(1, info.KeySize)];
        var value = new byte[Math.Max(1, stride * cpus)];
        bool first = true;
        ulong limit = (ulong)info.MaxEntries * 2 + 16;
        for (ulong n = 0; n < limit; n++)
        {
            if (!NextKey(fd, first ? null : key, nextKey, mapId)) yield break;
            first = false;
            (key, nextKey) = (nextKey, key);
            if (!Lookup(fd, key, value, mapId, BpfNames.MapType(info.Type))) continue; // deleted meanwhile
            var keyBytes = key[..(int)info.KeySize];
            object? keyValue = btf is not null && info.BtfKeyTypeId != 0 ? btf.Decode(info.BtfKeyTypeId, keyBytes)
                : IsIndexed(info.Type) && info.KeySize == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(keyBytes)
                : (ItemList<byte>)keyBytes;
            object? DecodeValue(ReadOnlySpan<byte> v) => btf is not null && info.BtfValueTypeId != 0 ? btf.Decode(info.BtfValueTypeId, v)
                : info.Type is 12 or 13 /* maps of maps: the inner map id */ && v.Length == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(v)
                : (ItemList<byte>)v.ToArray();
            if (perCpu)
            {
                var values = new object?[cpus];
                for (int c = 0; c < cpus; c++) values[c] = DecodeValue(value.AsSpan(c * stride, (int)info.ValueSize));
                yield return new BpfMapEntry { MapId = mapId, MapName = name, Key = keyValue, CpuValues = values, KeyBytes = keyBytes, ValueBytes = value[..(stride * cpus)] };
            }
            else
            {
                var vb = value[..(int)info.ValueSize];
                yield return new BpfMapEntry { MapId = mapId, MapName = name, Key = keyValue, Value = DecodeValue(vb), KeyBytes = keyBytes, ValueBytes = vb };
            }
        }
    }

    private static unsafe string Name(BpfMapInfo info) => BpfInspector.CString(info.Name, 16);

    private static unsafe bool NextKey(SafeFileDescriptor fd, byte[]? key, byte[] next, uint mapId)
    {
        fixed (byte* k = key)
        fixed (byte* nk = next)
        {
            var attr = new BpfMapElemAttr { MapFd = (uint)fd.Fd, Key = (ulong)k, ValueOrNextKey = (ulong)nk };
            if (Interop.bpf(Interop.BPF_MAP_GET_NEXT_KEY, &attr, (uint)sizeof(BpfMapElemAttr)) >= 0) return true;
            if (Errno.Last == Errno.ENOENT) return false;
            throw new KernelDebugException(Errno.Last, "bpf(BPF_MAP_GET_NEXT_KEY)", mapId.ToString()) { Remedy = BpfInspector.BpfRemedy };
        }
    }

    private static unsafe bool Lookup(SafeFileDescriptor fd, byte[] key, byte[] value, uint mapId, string type)
    {
        fixed (byte* k = key)
        fixed (byte* v = value)
        {
            var attr = new BpfMapElemAttr { MapFd = (uint)fd.Fd, Key = (ulong)k, ValueOrNextKey = (ulong)v };
            if (Interop.bpf(Interop.BPF_MAP_LOOKUP_ELEM, &attr, (uint)sizeof(BpfMapElemAttr)) >= 0) return true;
            int err = Errno.Last;
            if (err == Errno.ENOENT) return false;
            if (err is Errno.EOPNOTSUPP or Errno.ENOTSUPP or Errno.EINVAL)
                throw new KernelDebugException($"The kernel does not let user space read the values of map {mapId}, a {type} map ({Errno.Name(err)}).",
                    "BpfMapNotReadable", ErrorCategory.NotImplemented) { Target = mapId.ToString() };
            throw new KernelDebugException(err, "bpf(BPF_MAP_LOOKUP_ELEM)", mapId.ToString()) { Remedy = BpfInspector.BpfRemedy };
        }
    }
}
