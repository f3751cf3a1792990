using System.Runtime.InteropServices;

namespace KernelDebug.Native;

/// <summary>System call numbers for the calls libc does not wrap, per architecture (asm/unistd.h).</summary>
public static class SyscallNumbers
{
    public static long PerfEventOpen => Pick(298, 241);
    public static long Bpf => Pick(321, 280);
    public static long Gettid => Pick(186, 178);
    public static long Seccomp => Pick(317, 277);
    public static long ProcessVmReadv => Pick(310, 270);
    public static long PidfdOpen => 434;
    public static long Capget => Pick(125, 90);
    public static long Getdents64 => Pick(217, 61);

    /// <summary>The number for this process's architecture; only x86_64 and aarch64 are supported.</summary>
    public static long Pick(long x64, long arm64) => PickFor(RuntimeInformation.ProcessArchitecture, x64, arm64);

    public static long PickFor(Architecture architecture, long x64, long arm64) => architecture switch
    {
        Architecture.X64 => x64,
        Architecture.Arm64 => arm64,
        var a => throw new PlatformNotSupportedException($"KernelDebug supports x86_64 and aarch64, not {a}."),
    };
}
