using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "mkdir", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int mkdir(string path, int mode);
}
