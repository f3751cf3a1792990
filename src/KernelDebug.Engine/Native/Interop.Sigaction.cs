using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const int SA_NOCLDSTOP = 1;

    /// <summary>glibc's struct sigaction (handler, 1024-bit sa_mask, sa_flags, sa_restorer): kept opaque but for sa_flags.</summary>
    internal const int SigactionSize = 152, SigactionFlagsOffset = 136;

    [LibraryImport(Libc, EntryPoint = "sigaction", SetLastError = true)]
    internal static unsafe partial int sigaction(int signal, byte* action, byte* oldAction);

    /// <summary>SIG_DFL for a signal (a zeroed struct sigaction: handler 0, empty mask, no flags).</summary>
    internal static unsafe void ResetSignalToDefault(int signal)
    {
        byte* action = stackalloc byte[SigactionSize];
        new Span<byte>(action, SigactionSize).Clear();
        sigaction(signal, action, null);
    }
}
