using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const uint MFD_CLOEXEC = 1;

    [LibraryImport(Libc, EntryPoint = "memfd_create", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int memfd_create(string name, uint flags);

    /// <summary>memfd_create(2) with MFD_CLOEXEC, as a SafeHandle; throws with the errno on failure.</summary>
    internal static SafeFileDescriptor MemfdCreate(string name)
    {
        int fd = memfd_create(name, MFD_CLOEXEC);
        if (fd < 0) throw new KernelDebugException(Errno.Last, "memfd_create", name);
        return new SafeFileDescriptor(fd);
    }
}
