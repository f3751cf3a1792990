using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const int CLOCK_REALTIME = 0, CLOCK_MONOTONIC = 1, CLOCK_MONOTONIC_RAW = 4, CLOCK_BOOTTIME = 7, CLOCK_TAI = 11;

    [StructLayout(LayoutKind.Sequential)]
    internal struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport(Libc, EntryPoint = "clock_gettime", SetLastError = true)]
    internal static partial int clock_gettime(int clockId, out TimeSpec time);

    /// <summary>clock_gettime(2) in nanoseconds.</summary>
    internal static long ClockNanoseconds(int clockId)
    {
        Check(clock_gettime(clockId, out var ts), "clock_gettime");
        return ts.Seconds * 1_000_000_000L + ts.Nanoseconds;
    }
}
