namespace KernelDebug.Native;

internal static partial class Interop
{
    internal struct IoVec
    {
        public nint Base;
        public nuint Length;
    }

    /// <summary>process_vm_readv(2): one local and one remote range; bytes read, or -1 with errno.</summary>
    internal static unsafe long process_vm_readv(int pid, byte* local, nuint length, ulong remote)
    {
        var l = new IoVec { Base = (nint)local, Length = length };
        var r = new IoVec { Base = (nint)remote, Length = length };
        return syscall(SyscallNumbers.ProcessVmReadv, pid, (nint)(&l), 1, (nint)(&r), 1, 0);
    }

    /// <summary>process_vm_readv(2) returning 0 or the errno; the bytes read in <paramref name="read"/>.</summary>
    internal static unsafe int TryProcessVmReadv(int pid, byte* local, nuint length, ulong remote, out long read)
    {
        read = process_vm_readv(pid, local, length, remote);
        return read < 0 ? Errno.Last : 0;
    }
}
