using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const int CLOCK_REALTIME = 0, CLOCK_MONOTONIC = 1, CLOCK_BOOTTIME = 7;

    [StructLayout(LayoutKind.Sequential)]
    internal struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
        public readonly long TotalNanoseconds => Seconds * 1_000_000_000L + Nanoseconds;
    }

    [LibraryImport(Libc, EntryPoint = "clock_gettime", SetLastError = true)]
    internal static partial int clock_gettime(int clockId, out TimeSpec time);

    /// <summary>The clock's time in nanoseconds; throws when the clock is unknown.</summary>
    internal static long ClockNanoseconds(int clockId)
    {
        Check(clock_gettime(clockId, out var t), "clock_gettime");
        return t.TotalNanoseconds;
    }
}
