using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const int SIGKILL = 9, SIGTRAP = 5, SIGSTOP = 19, SIGCONT = 18, SIGTSTP = 20, SIGTTIN = 21, SIGTTOU = 22, SIGCHLD = 17;

    [LibraryImport(Libc, EntryPoint = "kill", SetLastError = true)]
    internal static partial int kill(int pid, int signal);

    /// <summary>tgkill(2): a signal to one thread of a thread group.</summary>
    internal static long tgkill(int tgid, int tid, int signal) =>
        syscall(SyscallNumbers.Pick(234, 131), tgid, tid, signal, 0, 0, 0);
}
