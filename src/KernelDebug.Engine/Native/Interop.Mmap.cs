using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;
    internal static readonly nint MAP_FAILED = -1;

    [LibraryImport(Libc, EntryPoint = "mmap", SetLastError = true)]
    internal static partial nint mmap(nint address, nuint length, int protection, int flags, SafeFileDescriptor fd, nint offset);
}
