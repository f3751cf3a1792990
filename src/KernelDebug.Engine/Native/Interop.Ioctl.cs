using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int ioctl(SafeFileDescriptor fd, nuint request, nint argument);
}
