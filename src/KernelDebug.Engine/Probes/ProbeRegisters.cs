namespace KernelDebug.Probes;

/// <summary>
/// Register names a fetch argument may name (%reg), per architecture: the kernel's regs_query_register_offset()
/// table (arch/*/kernel/ptrace.c regoffset_table).
/// </summary>
public static class ProbeRegisters
{
    private static readonly HashSet<string> X86_64 = new(StringComparer.Ordinal)
    {
        "r15", "r14", "r13", "r12", "r11", "r10", "r9", "r8", "bx", "cx", "dx", "si", "di", "bp", "ax",
        "orig_ax", "ip", "cs", "flags", "sp", "ss",
    };

    private static readonly HashSet<string> Aarch64 = new(Enumerable.Range(0, 31).Select(i => "x" + i).Concat(new[] { "lr", "sp", "pc", "pstate" }), StringComparer.Ordinal);

    /// <summary>The architecture of this process, in uname -m spelling.</summary>
    public static string Current => System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => "x86_64",
        System.Runtime.InteropServices.Architecture.Arm64 => "aarch64",
        var a => a.ToString().ToLowerInvariant(),
    };

    public static IReadOnlyCollection<string> Names(string architecture) => architecture switch
    {
        "x86_64" or "amd64" or "x64" => X86_64,
        "aarch64" or "arm64" => Aarch64,
        _ => throw new PlatformNotSupportedException($"No register table for architecture '{architecture}' (known: x86_64, aarch64)."),
    };

    public static bool IsValid(string architecture, string name) => Names(architecture).Contains(name);
}
