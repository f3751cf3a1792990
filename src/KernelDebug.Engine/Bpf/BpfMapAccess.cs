using KernelDebug.Native;

namespace KernelDebug.Bpf;

/// <summary>Element access on a loaded object's maps by raw key and value bytes (update, lookup, delete, keys).</summary>
internal static class BpfMapAccess
{
    public static unsafe void Update(BpfObjectMap map, byte[] key, byte[] value, ulong flags = 0)
    {
        fixed (byte* k = key)
        fixed (byte* v = value)
        {
            var attr = new BpfMapElemAttr { MapFd = (uint)map.Fd.Fd, Key = (ulong)k, ValueOrNextKey = (ulong)v, Flags = flags };
            Interop.Bpf(Interop.BPF_MAP_UPDATE_ELEM, ref attr, "bpf(BPF_MAP_UPDATE_ELEM)", map.Name);
        }
    }

    /// <summary>False when the key is not there; a per-CPU map's value is one slot per possible CPU, each 8-byte aligned.</summary>
    public static unsafe bool Lookup(BpfObjectMap map, byte[] key, byte[] value)
    {
        fixed (byte* k = key)
        fixed (byte* v = value)
        {
            var attr = new BpfMapElemAttr { MapFd = (uint)map.Fd.Fd, Key = (ulong)k, ValueOrNextKey = (ulong)v };
            if (Interop.bpf(Interop.BPF_MAP_LOOKUP_ELEM, &attr, (uint)sizeof(BpfMapElemAttr)) >= 0) return true;
            int err = Errno.Last;
            if (err == Errno.ENOENT) return false;
            throw new KernelDebugException(err, "bpf(BPF_MAP_LOOKUP_ELEM)", map.Name) { Remedy = BpfInspector.BpfRemedy };
        }
    }

    public static unsafe void Delete(BpfObjectMap map, byte[] key)
    {
        fixed (byte* k = key)
        {
            var attr = new BpfMapElemAttr { MapFd = (uint)map.Fd.Fd, Key = (ulong)k };
            if (Interop.bpf(Interop.BPF_MAP_DELETE_ELEM, &attr, (uint)sizeof(BpfMapElemAttr)) < 0 && Errno.Last != Errno.ENOENT)
                throw new KernelDebugException(Errno.Last, "bpf(BPF_MAP_DELETE_ELEM)", map.Name) { Remedy = BpfInspector.BpfRemedy };
        }
    }

    /// <summary>The map's keys (a hash map's, as they are while read).</summary>
    public static IEnumerable<byte[]> Keys(BpfObjectMap map, int keySize)
    {
        byte[]? key = null;
        for (long n = 0; n < (long)map.MaxEntries * 2 + 16; n++)
        {
            var next = new byte[keySize];
            if (!NextKey(map, key, next)) yield break;
            yield return next;
            key = next;
        }
    }

    private static unsafe bool NextKey(BpfObjectMap map, byte[]? key, byte[] next)
    {
        fixed (byte* k = key)
        fixed (byte* nk = next)
        {
            var attr = new BpfMapElemAttr { MapFd = (uint)map.Fd.Fd, Key = (ulong)k, ValueOrNextKey = (ulong)nk };
            if (Interop.bpf(Interop.BPF_MAP_GET_NEXT_KEY, &attr, (uint)sizeof(BpfMapElemAttr)) >= 0) return true;
            if (Errno.Last == Errno.ENOENT) return false;
            throw new KernelDebugException(Errno.Last, "bpf(BPF_MAP_GET_NEXT_KEY)", map.Name) { Remedy = BpfInspector.BpfRemedy };
        }
    }
}
