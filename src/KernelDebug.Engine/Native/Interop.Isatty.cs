using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "isatty")]
    internal static partial int isatty(int fd);
}
