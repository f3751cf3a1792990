using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "pipe2", SetLastError = true)]
    internal static unsafe partial int pipe2(int* fds, int flags);

    /// <summary>A close-on-exec pipe: (read end, write end).</summary>
    internal static unsafe (SafeFileDescriptor Read, SafeFileDescriptor Write) Pipe()
    {
        int* fds = stackalloc int[2];
        Check(pipe2(fds, O_CLOEXEC), "pipe2");
        return (new SafeFileDescriptor(fds[0]), new SafeFileDescriptor(fds[1]));
    }
}
