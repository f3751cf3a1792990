using System.Buffers.Binary;
using System.Runtime.InteropServices;
using KernelDebug.Native;

namespace KernelDebug.Syscall;

/// <summary>
/// Builds the classic-BPF seccomp program of strace --seccomp-bpf: the selected syscalls return SECCOMP_RET_TRACE
/// (a ptrace stop), all others SECCOMP_RET_ALLOW and never stop the tracee. A call from another ABI (x32, or a
/// foreign audit arch) is traced, so nothing is hidden from the tracer.
/// </summary>
public static class SeccompFilter
{
    public const uint RetAllow = 0x7fff0000, RetTrace = 0x7ff00000;
    public const uint AuditArchX64 = 0xC000003E, AuditArchArm64 = 0xC00000B7;
    private const ushort LdWAbs = 0x20, JeqK = 0x15, JgeK = 0x35, Ret = 0x06;
    private const uint X32Bit = 0x40000000;

    /// <summary>At most this many syscalls fit the one-jump-per-call program (jump offsets are 8 bits).</summary>
    public const int MaxSyscalls = 250;

    public static byte[] Build(IReadOnlyCollection<int> syscalls, Architecture arch)
    {
        if (syscalls.Count == 0 || syscalls.Count > MaxSyscalls)
            throw new ArgumentOutOfRangeException(nameof(syscalls), $"A seccomp filter takes 1 to {MaxSyscalls} syscalls.");
        var numbers = syscalls.OrderBy(n => n).ToList();
        var program = new List<(ushort Code, byte Jt, byte Jf, uint K)>
        {
            (LdWAbs, 0, 0, 4), // seccomp_data.arch
            (JeqK, 1, 0, arch == Architecture.Arm64 ? AuditArchArm64 : AuditArchX64),
            (Ret, 0, 0, RetTrace),
            (LdWAbs, 0, 0, 0), // seccomp_data.nr
        };
        if (arch == Architecture.X64)
            program.Add((JgeK, (byte)(numbers.Count + 1), 0, X32Bit));
        for (int i = 0; i < numbers.Count; i++)
            program.Add((JeqK, (byte)(numbers.Count - i), 0, (uint)numbers[i])); // to the RET_TRACE after RET_ALLOW
        program.Add((Ret, 0, 0, RetAllow));
        program.Add((Ret, 0, 0, RetTrace));

        var bytes = new byte[program.Count * 8];
        for (int i = 0; i < program.Count; i++)
        {
            var s = bytes.AsSpan(i * 8);
            BinaryPrimitives.WriteUInt16LittleEndian(s, program[i].Code);
            s[2] = program[i].Jt;
            s[3] = program[i].Jf;
            BinaryPrimitives.WriteUInt32LittleEndian(s[4..], program[i].K);
        }
        return bytes;
    }

    /// <summary>Runs a filter program over (arch, nr) the way the kernel's classic BPF interpreter does (for tests).</summary>
    public static uint Evaluate(byte[] program, uint auditArch, int nr)
    {
        int pc = 0;
        uint a = 0;
        for (int steps = 0; steps < 4096; steps++)
        {
            var s = program.AsSpan(pc * 8);
            ushort code = BinaryPrimitives.ReadUInt16LittleEndian(s);
            byte jt = s[2], jf = s[3];
            uint k = BinaryPrimitives.ReadUInt32LittleEndian(s[4..]);
            switch (code)
            {
                case LdWAbs: a = k switch { 0 => (uint)nr, 4 => auditArch, _ => 0 }; pc++; break;
                case JeqK: pc += 1 + (a == k ? jt : jf); break;
                case JgeK: pc += 1 + (a >= k ? jt : jf); break;
                case Ret: return k;
                default: throw new InvalidOperationException($"Unknown BPF opcode 0x{code:x}.");
            }
        }
        throw new InvalidOperationException("The program does not return.");
    }
}
