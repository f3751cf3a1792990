using KernelDebug.Native;

namespace KernelDebug.Memory;

/// <summary>When the kernel booted, as dmesg -T computes it: the real-time clock minus CLOCK_BOOTTIME.</summary>
public static class BootClock
{
    /// <summary>The boot time in UTC. Kernel log timestamps count from here (they stop during suspend, as dmesg -T warns).</summary>
    public static DateTime BootTimeUtc()
    {
        long real = Interop.ClockNanoseconds(Interop.CLOCK_REALTIME);
        long boot = Interop.ClockNanoseconds(Interop.CLOCK_BOOTTIME);
        return DateTime.UnixEpoch.AddTicks((real - boot) / 100);
    }
}
