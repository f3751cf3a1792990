using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const int SIGINT = 2, SIGKILL = 9, SIGTERM = 15;

    [LibraryImport(Libc, EntryPoint = "kill", SetLastError = true)]
    internal static partial int kill(int pid, int signal);
}
