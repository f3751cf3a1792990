using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const int CLOCK_REALTIME = 0, CLOCK_MONOTONIC = 1, CLOCK_BOOTTIME = 7;

    [StructLayout(LayoutKind.Sequential)]
    internal struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport(Libc, EntryPoint = "clock_gettime", SetLastError = true)]
    internal static partial int clock_gettime(int clockId, out Timespec time);

    /// <summary>clock_gettime(2) in nanoseconds; throws on failure.</summary>
    internal static long ClockGetTimeNanoseconds(int clockId)
    {
        Check(clock_gettime(clockId, out var t), "clock_gettime");
        return t.Seconds * 1_000_000_000L + t.Nanoseconds;
    }
}
