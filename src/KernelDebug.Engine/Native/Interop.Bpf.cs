namespace KernelDebug.Native;

internal static partial class Interop
{
    // enum bpf_cmd (include/uapi/linux/bpf.h)
    internal const int BPF_MAP_CREATE = 0, BPF_MAP_LOOKUP_ELEM = 1, BPF_MAP_UPDATE_ELEM = 2, BPF_MAP_DELETE_ELEM = 3, BPF_MAP_GET_NEXT_KEY = 4,
        BPF_PROG_LOAD = 5, BPF_OBJ_PIN = 6, BPF_OBJ_GET = 7, BPF_PROG_GET_NEXT_ID = 11, BPF_MAP_GET_NEXT_ID = 12, BPF_PROG_GET_FD_BY_ID = 13,
        BPF_MAP_GET_FD_BY_ID = 14, BPF_OBJ_GET_INFO_BY_FD = 15, BPF_RAW_TRACEPOINT_OPEN = 17, BPF_BTF_LOAD = 18,
        BPF_BTF_GET_FD_BY_ID = 19, BPF_BTF_GET_NEXT_ID = 23, BPF_LINK_CREATE = 28, BPF_LINK_GET_FD_BY_ID = 30,
        BPF_LINK_GET_NEXT_ID = 31, BPF_MAP_FREEZE = 22;

    // PERF_EVENT_IOC_* (include/uapi/linux/perf_event.h)
    internal const nuint PERF_EVENT_IOC_ENABLE = 0x2400, PERF_EVENT_IOC_DISABLE = 0x2401, PERF_EVENT_IOC_SET_BPF = 0x40042408;

    /// <summary>bpf(2): cmd with a pointer to union bpf_attr of the given size; returns -1 with errno on failure.</summary>
    internal static unsafe long bpf(int command, void* attr, uint size) =>
        syscall(SyscallNumbers.Bpf, command, (nint)attr, (nint)size, 0, 0, 0);

    /// <summary>bpf(2) returning 0 or the errno; the syscall's result in <paramref name="result"/>.</summary>
    internal static unsafe int TryBpf(int command, void* attr, uint size, out long result)
    {
        result = bpf(command, attr, size);
        return result < 0 ? Errno.Last : 0;
    }

    /// <summary>bpf(2) with one part of union bpf_attr, errno checked; returns the non-negative result.</summary>
    internal static unsafe long Bpf<TAttr>(int command, ref TAttr attr, string operation, string? target = null) where TAttr : unmanaged
    {
        fixed (TAttr* p = &attr)
        {
            var q = p;
            return Check(RetryOnEintr(() => bpf(command, q, (uint)sizeof(TAttr))), operation, target);
        }
    }

    /// <summary>bpf(2) returning a new fd (close-on-exec is implied by the kernel for bpf fds) as a SafeHandle.</summary>
    internal static SafeFileDescriptor BpfFd<TAttr>(int command, ref TAttr attr, string operation, string? target = null) where TAttr : unmanaged =>
        new((int)Bpf(command, ref attr, operation, target));
}
