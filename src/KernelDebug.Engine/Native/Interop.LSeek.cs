using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const int SEEK_SET = 0;

    [LibraryImport(Libc, EntryPoint = "lseek", SetLastError = true)]
    internal static partial long lseek(SafeFileDescriptor fd, long offset, int whence);
}
