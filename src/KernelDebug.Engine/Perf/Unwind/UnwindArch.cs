namespace KernelDebug.Perf.Unwind;

/// <summary>The architectures whose user registers and CFI the unwinder knows.</summary>
public enum UnwindArch
{
    X64,
    Arm64,
}

/// <summary>Register numbering: perf's sample registers (perf_regs.h) against DWARF's (the psABI's), per architecture.</summary>
internal static class UnwindRegisters
{
    /// <summary>Room for every DWARF register the unwinder tracks (x0-x30 and sp on aarch64; 0-16 on x86_64).</summary>
    public const int Count = 33;

    /// <summary>perf record --call-graph dwarf's sample_regs_user on x86_64: PERF_REGS_MASK, every register but ds, es, fs, gs.</summary>
    public const ulong X86_64PerfMask = 0xff0fff;

    /// <summary>arm64's PERF_REGS_MASK: x0-x30, sp, pc.</summary>
    public const ulong AArch64PerfMask = (1UL << 33) - 1;

    public static int StackPointer(UnwindArch arch) => arch == UnwindArch.X64 ? 7 : 31;

    /// <summary>The DWARF number perf register bit maps to: -1 for none, -2 for the program counter.</summary>
    public static int DwarfOf(UnwindArch arch, int perfBit)
    {
        if (arch == UnwindArch.Arm64) return perfBit <= 31 ? perfBit : perfBit == 32 ? -2 : -1;
        return perfBit switch
        {
            0 => 0, // ax
            1 => 3, // bx
            2 => 2, // cx
            3 => 1, // dx
            4 => 4, // si
            5 => 5, // di
            6 => 6, // bp
            7 => 7, // sp
            8 => -2, // ip
            >= 16 and <= 23 => perfBit - 8, // r8-r15
            _ => -1,
        };
    }

    /// <summary>The architecture of a perf.data file's HEADER_ARCH (uname -m), when the unwinder knows it.</summary>
    public static UnwindArch? FromUname(string? machine) => machine switch
    {
        "x86_64" or "amd64" => UnwindArch.X64,
        "aarch64" or "arm64" => UnwindArch.Arm64,
        _ => null,
    };
}
