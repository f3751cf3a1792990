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

    /// <summary>The local time of a stamp since boot, or null when either is unknown or the sum is beyond DateTime.</summary>
    public static DateTime? At(DateTime? bootTimeUtc, TimeSpan? sinceBoot)
    {
        if (bootTimeUtc is not { } b || sinceBoot is not { } t) return null;
        if (t.Ticks > DateTime.MaxValue.Ticks - b.Ticks - TimeSpan.TicksPerDay || b.Ticks + t.Ticks < TimeSpan.TicksPerDay) return null;
        return (b + t).ToLocalTime();
    }
}
