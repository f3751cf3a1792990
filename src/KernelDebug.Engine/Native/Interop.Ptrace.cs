using System.Runtime.InteropServices;

namespace KernelDebug.Native;

internal static partial class Interop
{
    internal const int PTRACE_PEEKDATA = 2, PTRACE_PEEKUSER = 3, PTRACE_POKEUSER = 6, PTRACE_CONT = 7, PTRACE_KILL = 8, PTRACE_DETACH = 17, PTRACE_SYSCALL = 24,
        PTRACE_SETOPTIONS = 0x4200, PTRACE_GETEVENTMSG = 0x4201, PTRACE_GETSIGINFO = 0x4202, PTRACE_SEIZE = 0x4206,
        PTRACE_INTERRUPT = 0x4207, PTRACE_LISTEN = 0x4208, PTRACE_GET_SYSCALL_INFO = 0x420e;

    internal const int PTRACE_O_TRACESYSGOOD = 1, PTRACE_O_TRACEFORK = 2, PTRACE_O_TRACEVFORK = 4, PTRACE_O_TRACECLONE = 8,
        PTRACE_O_TRACEEXEC = 0x10, PTRACE_O_TRACESECCOMP = 0x80, PTRACE_O_EXITKILL = 0x100000;

    internal const int PTRACE_EVENT_FORK = 1, PTRACE_EVENT_VFORK = 2, PTRACE_EVENT_CLONE = 3, PTRACE_EVENT_EXEC = 4,
        PTRACE_EVENT_SECCOMP = 7, PTRACE_EVENT_STOP = 128;

    internal const byte PTRACE_SYSCALL_INFO_ENTRY = 1, PTRACE_SYSCALL_INFO_EXIT = 2, PTRACE_SYSCALL_INFO_SECCOMP = 3;

    private static long? _ptraceNumber;

    /// <summary>ptrace(2) as the raw syscall (PEEKDATA then stores the word at data, unlike glibc's wrapper).</summary>
    internal static long ptrace(int request, int pid, nint address, nint data) =>
        syscall(_ptraceNumber ??= SyscallNumbers.Ptrace, request, pid, address, data, 0, 0);

    /// <summary>ptrace(2) returning 0 or the errno, for callers that handle some errors (ESRCH: the task is gone).</summary>
    internal static int TryPtrace(int request, int pid, nint address, nint data) => TryPtrace(request, pid, address, data, out _);

    /// <summary>ptrace(2) returning 0 or the errno; the request's result in <paramref name="result"/>.</summary>
    internal static int TryPtrace(int request, int pid, nint address, nint data, out long result)
    {
        result = ptrace(request, pid, address, data);
        return result < 0 ? Errno.Last : 0;
    }

    /// <summary>struct ptrace_syscall_info (linux/ptrace.h): entry, exit or seccomp view of a syscall stop.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 88)]
    internal unsafe struct PtraceSyscallInfo
    {
        [FieldOffset(0)] public byte Op;
        [FieldOffset(4)] public uint Arch;
        [FieldOffset(8)] public ulong InstructionPointer;
        [FieldOffset(16)] public ulong StackPointer;
        /// <summary>entry.nr / seccomp.nr.</summary>
        [FieldOffset(24)] public ulong Nr;
        /// <summary>exit.rval.</summary>
        [FieldOffset(24)] public long ReturnValue;
        [FieldOffset(32)] public byte IsError;
        [FieldOffset(32)] public fixed ulong Args[6];
        [FieldOffset(80)] public uint RetData;
    }

    /// <summary>The kernel's siginfo_t (128 bytes) for the fields strace prints.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    internal struct SigInfo
    {
        [FieldOffset(0)] public int Signo;
        [FieldOffset(4)] public int Errno;
        [FieldOffset(8)] public int Code;
        [FieldOffset(16)] public int Pid;
        [FieldOffset(20)] public uint Uid;
        /// <summary>si_status for SIGCHLD; for SIGSEGV and friends the low half of si_addr.</summary>
        [FieldOffset(24)] public int Status;
        [FieldOffset(16)] public ulong Address;
    }
}
