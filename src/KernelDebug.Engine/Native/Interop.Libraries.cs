namespace KernelDebug.Native;

internal static partial class Interop
{
    // glibc and musl both export the POSIX calls from libc; "libc" resolves through the loader's search.
    internal const string Libc = "libc";
}
