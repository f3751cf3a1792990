using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const int WNOHANG = 1, __WALL = 0x40000000;

    [LibraryImport(Libc, EntryPoint = "waitpid", SetLastError = true)]
    internal static partial int waitpid(int pid, out int status, int options);

    internal static bool WIFEXITED(int s) => (s & 0x7f) == 0;
    internal static int WEXITSTATUS(int s) => (s >> 8) & 0xff;
    internal static bool WIFSIGNALED(int s) => (s & 0x7f) != 0 && (s & 0x7f) != 0x7f;
    internal static int WTERMSIG(int s) => s & 0x7f;
    internal static bool WCOREDUMP(int s) => (s & 0x80) != 0;
    internal static bool WIFSTOPPED(int s) => (s & 0xff) == 0x7f;
    internal static int WSTOPSIG(int s) => (s >> 8) & 0xff;
    /// <summary>The PTRACE_EVENT_* of a ptrace stop (status &gt;&gt; 16).</summary>
    internal static int PtraceEvent(int s) => (s >> 16) & 0xff;
}
