using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "pread", SetLastError = true)]
    internal static unsafe partial nint pread(SafeFileDescriptor fd, byte* buffer, nuint count, long offset);
}
