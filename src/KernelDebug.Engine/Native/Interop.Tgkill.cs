namespace KernelDebug.Native;

internal static partial class Interop
{
    /// <summary>tgkill(2): a signal to one thread of a thread group.</summary>
    internal static long tgkill(int tgid, int tid, int signal) =>
        syscall(SyscallNumbers.Pick(234, 131), tgid, tid, signal, 0, 0, 0);
}
