using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const int LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;

    [LibraryImport(Libc, EntryPoint = "flock", SetLastError = true)]
    internal static partial int flock(SafeHandle fd, int operation);
}
