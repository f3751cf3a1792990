using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    // syscall(2) is variadic in C; integer arguments are passed in the same registers as a fixed
    // six-argument call on both x86_64 and aarch64 Linux, so this fixed signature is exact there.
    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long syscall(long number, nint a1, nint a2, nint a3, nint a4, nint a5, nint a6);
}
