using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const string LibStdCxx = "libstdc++.so.6";

    /// <summary>abi::__cxa_demangle: returns a malloc'd string (free it with free) or null, status 0 on success.</summary>
    [LibraryImport(LibStdCxx, EntryPoint = "__cxa_demangle")]
    internal static unsafe partial byte* __cxa_demangle(byte* mangled, byte* buffer, nuint* length, int* status);
}
