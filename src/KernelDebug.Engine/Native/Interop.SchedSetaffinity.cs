using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "sched_setaffinity", SetLastError = true)]
    internal static unsafe partial int sched_setaffinity(int pid, nuint size, ulong* mask);

    [LibraryImport(Libc, EntryPoint = "sched_getcpu", SetLastError = true)]
    internal static partial int sched_getcpu();
}
