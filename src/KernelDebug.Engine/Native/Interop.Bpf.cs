namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const int BPF_PROG_GET_NEXT_ID = 11, BPF_MAP_GET_NEXT_ID = 12, BPF_PROG_GET_FD_BY_ID = 13,
        BPF_MAP_GET_FD_BY_ID = 14, BPF_OBJ_GET_INFO_BY_FD = 15, BPF_BTF_GET_NEXT_ID = 23, BPF_LINK_GET_NEXT_ID = 31;

    /// <summary>bpf(2): cmd with a pointer to union bpf_attr of the given size; returns -1 with errno on failure.</summary>
    internal static unsafe long bpf(int command, void* attr, uint size) =>
        syscall(SyscallNumbers.Bpf, command, (nint)attr, (nint)size, 0, 0, 0);
}
