using System.Runtime.InteropServices;

namespace KernelDebug.Native;

/// <summary>System call numbers for the calls libc does not wrap (or wraps differently), per architecture.</summary>
public static class SyscallNumbers
{
    /// <summary>name → (x86_64 from asm/unistd_64.h, aarch64 from asm-generic/unistd.h); tests check both against the headers.</summary>
    public static IReadOnlyDictionary<string, (long X64, long Arm64)> Table { get; } = new Dictionary<string, (long, long)>
    {
        ["perf_event_open"] = (298, 241),
        ["bpf"] = (321, 280),
        ["gettid"] = (186, 178),
        ["seccomp"] = (317, 277),
        ["process_vm_readv"] = (310, 270),
        ["pidfd_open"] = (434, 434),
        ["pidfd_getfd"] = (438, 438),
        ["capget"] = (125, 90),
        ["getdents64"] = (217, 61),
        ["ptrace"] = (101, 117),
    };

    public static long PerfEventOpen => Of("perf_event_open");
    public static long Bpf => Of("bpf");
    public static long Gettid => Of("gettid");
    public static long Seccomp => Of("seccomp");
    public static long ProcessVmReadv => Of("process_vm_readv");
    public static long PidfdOpen => Of("pidfd_open");
    public static long PidfdGetfd => Of("pidfd_getfd");
    public static long Capget => Of("capget");
    public static long Getdents64 => Of("getdents64");
    public static long Ptrace => Of("ptrace");

    /// <summary>The number of a call in <see cref="Table"/> for this process's architecture.</summary>
    public static long Of(string name) => For(name, RuntimeInformation.ProcessArchitecture);

    public static long For(string name, Architecture architecture)
    {
        var (x64, arm64) = Table[name];
        return PickFor(architecture, x64, arm64);
    }

    /// <summary>The number for this process's architecture; only x86_64 and aarch64 are supported.</summary>
    public static long Pick(long x64, long arm64) => PickFor(RuntimeInformation.ProcessArchitecture, x64, arm64);

    public static long PickFor(Architecture architecture, long x64, long arm64) => architecture switch
    {
        Architecture.X64 => x64,
        Architecture.Arm64 => arm64,
        var a => throw new PlatformNotSupportedException($"KernelDebug supports x86_64 and aarch64, not {a}."),
    };
}
