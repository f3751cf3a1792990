using System.Runtime.InteropServices;

namespace KernelDebug.Syscall;

/// <summary>The uapi constants the decoders print by name (values from the kernel's uapi headers; per-arch where they differ).</summary>
public static class SyscallConstants
{
    public static readonly string[] SignalNames =
    {
        "0", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1",
        "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP",
        "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
    };

    public static string SignalName(int signal) => signal switch
    {
        >= 0 and < 32 => SignalNames[signal],
        // The kernel's real-time range, named as strace names it (glibc reserves the first two for itself).
        32 => "SIGRTMIN",
        > 32 and <= 64 => $"SIGRT_{signal - 32}",
        _ => signal.ToString(),
    };

    /// <summary>A signal by name (SIGSEGV, SEGV, case-insensitive; SIGRTMIN, SIGRT_n) or number 1..64.</summary>
    public static bool TrySignalNumber(string text, out int signal)
    {
        text = text.Trim();
        if (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out signal))
            return signal is >= 1 and <= 64;
        var name = text.StartsWith("SIG", StringComparison.OrdinalIgnoreCase) ? text : "SIG" + text;
        for (int s = 1; s <= 64; s++)
            if (string.Equals(SignalName(s), name, StringComparison.OrdinalIgnoreCase)) { signal = s; return true; }
        signal = 0;
        return false;
    }

    /// <summary>Open flags; O_DIRECTORY, O_NOFOLLOW, O_DIRECT and O_LARGEFILE sit at other bits on arm64.</summary>
    public static (ulong Value, string Name)[] OpenFlags(Architecture arch) => arch == Architecture.Arm64 ? Arm64Open : X64Open;

    private static readonly (ulong, string)[] CommonOpen =
    {
        (0x40, "O_CREAT"), (0x80, "O_EXCL"), (0x100, "O_NOCTTY"), (0x200, "O_TRUNC"), (0x400, "O_APPEND"),
        (0x800, "O_NONBLOCK"), (0x1000, "O_DSYNC"), (0x2000, "O_ASYNC"), (0x40000, "O_NOATIME"), (0x80000, "O_CLOEXEC"),
        (0x101000, "O_SYNC"), (0x200000, "O_PATH"),
    };
    private static readonly (ulong, string)[] X64Open = CommonOpen.Concat(new (ulong, string)[]
    {
        (0x4000, "O_DIRECT"), (0x8000, "O_LARGEFILE"), (0x10000, "O_DIRECTORY"), (0x20000, "O_NOFOLLOW"), (0x410000, "O_TMPFILE"),
    }).ToArray();
    private static readonly (ulong, string)[] Arm64Open = CommonOpen.Concat(new (ulong, string)[]
    {
        (0x10000, "O_DIRECT"), (0x20000, "O_LARGEFILE"), (0x4000, "O_DIRECTORY"), (0x8000, "O_NOFOLLOW"), (0x404000, "O_TMPFILE"),
    }).ToArray();

    public static ulong TmpFile(Architecture arch) => arch == Architecture.Arm64 ? 0x404000UL : 0x410000UL;

    public static readonly (ulong, string)[] Prot =
        { (1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC"), (8, "PROT_SEM"), (0x01000000, "PROT_GROWSDOWN"), (0x02000000, "PROT_GROWSUP") };

    public static readonly (ulong, string)[] MapType = { (1, "MAP_SHARED"), (2, "MAP_PRIVATE"), (3, "MAP_SHARED_VALIDATE") };

    public static readonly (ulong, string)[] MapFlags =
    {
        (0x10, "MAP_FIXED"), (0x20, "MAP_ANONYMOUS"), (0x40, "MAP_32BIT"), (0x100, "MAP_GROWSDOWN"), (0x800, "MAP_DENYWRITE"),
        (0x1000, "MAP_EXECUTABLE"), (0x2000, "MAP_LOCKED"), (0x4000, "MAP_NORESERVE"), (0x8000, "MAP_POPULATE"),
        (0x10000, "MAP_NONBLOCK"), (0x20000, "MAP_STACK"), (0x40000, "MAP_HUGETLB"), (0x80000, "MAP_SYNC"),
        (0x100000, "MAP_FIXED_NOREPLACE"), (0x4000000, "MAP_UNINITIALIZED"),
    };

    public static readonly (ulong, string)[] CloneFlags =
    {
        (0x100, "CLONE_VM"), (0x200, "CLONE_FS"), (0x400, "CLONE_FILES"), (0x800, "CLONE_SIGHAND"), (0x1000, "CLONE_PIDFD"),
        (0x2000, "CLONE_PTRACE"), (0x4000, "CLONE_VFORK"), (0x8000, "CLONE_PARENT"), (0x10000, "CLONE_THREAD"),
        (0x20000, "CLONE_NEWNS"), (0x40000, "CLONE_SYSVSEM"), (0x80000, "CLONE_SETTLS"), (0x100000, "CLONE_PARENT_SETTID"),
        (0x200000, "CLONE_CHILD_CLEARTID"), (0x400000, "CLONE_DETACHED"), (0x800000, "CLONE_UNTRACED"),
        (0x1000000, "CLONE_CHILD_SETTID"), (0x2000000, "CLONE_NEWCGROUP"), (0x4000000, "CLONE_NEWUTS"), (0x8000000, "CLONE_NEWIPC"),
        (0x10000000, "CLONE_NEWUSER"), (0x20000000, "CLONE_NEWPID"), (0x40000000, "CLONE_NEWNET"), (0x80000000, "CLONE_IO"),
    };

    public static readonly (ulong, string)[] AtFlags =
    {
        (0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_REMOVEDIR"), (0x400, "AT_SYMLINK_FOLLOW"), (0x800, "AT_NO_AUTOMOUNT"),
        (0x1000, "AT_EMPTY_PATH"), (0x2000, "AT_STATX_FORCE_SYNC"), (0x4000, "AT_STATX_DONT_SYNC"), (0x8000, "AT_RECURSIVE"),
    };

    public static readonly (ulong, string)[] AccessMode = { (1, "X_OK"), (2, "W_OK"), (4, "R_OK") };

    public static readonly Dictionary<ulong, string> Ioctls = new()
    {
        [0x5401] = "TCGETS", [0x5402] = "TCSETS", [0x5403] = "TCSETSW", [0x5404] = "TCSETSF", [0x5405] = "TCGETA",
        [0x5409] = "TCSBRK", [0x540A] = "TCXONC", [0x540B] = "TCFLSH", [0x540E] = "TIOCSCTTY", [0x540F] = "TIOCGPGRP",
        [0x5410] = "TIOCSPGRP", [0x5411] = "TIOCOUTQ", [0x5413] = "TIOCGWINSZ", [0x5414] = "TIOCSWINSZ",
        [0x541B] = "FIONREAD", [0x541C] = "TIOCLINUX", [0x5421] = "FIONBIO", [0x5422] = "TIOCNOTTY", [0x5429] = "TIOCGSID",
        [0x5450] = "FIONCLEX", [0x5451] = "FIOCLEX", [0x5452] = "FIOASYNC", [0x80045430] = "TIOCGPTN",
        [0x40045431] = "TIOCSPTLCK", [0x80081272] = "BLKGETSIZE64", [0x1260] = "BLKGETSIZE", [0x127B] = "BLKPBSZGET",
        [0x2401] = "PERF_EVENT_IOC_DISABLE", [0x2400] = "PERF_EVENT_IOC_ENABLE", [0x2403] = "PERF_EVENT_IOC_RESET",
        [0x80086601] = "FS_IOC_GETFLAGS", [0x40086602] = "FS_IOC_SETFLAGS", [0xC020660B] = "FS_IOC_FIEMAP",
        [0x5460] = "TIOCGPTPEER", [0x8912] = "SIOCGIFCONF", [0x8933] = "SIOCGIFINDEX", [0x8927] = "SIOCGIFHWADDR",
        [0x8913] = "SIOCGIFFLAGS",
    };

    public static readonly Dictionary<ulong, string> FcntlCommands = new()
    {
        [0] = "F_DUPFD", [1] = "F_GETFD", [2] = "F_SETFD", [3] = "F_GETFL", [4] = "F_SETFL", [5] = "F_GETLK", [6] = "F_SETLK",
        [7] = "F_SETLKW", [8] = "F_SETOWN", [9] = "F_GETOWN", [1024] = "F_SETLEASE", [1025] = "F_GETLEASE",
        [1030] = "F_DUPFD_CLOEXEC", [1031] = "F_SETPIPE_SZ", [1032] = "F_GETPIPE_SZ", [1033] = "F_ADD_SEALS", [1034] = "F_GET_SEALS",
        [36] = "F_OFD_GETLK", [37] = "F_OFD_SETLK", [38] = "F_OFD_SETLKW",
    };

    public static readonly string[] Whence = { "SEEK_SET", "SEEK_CUR", "SEEK_END", "SEEK_DATA", "SEEK_HOLE" };
    public static readonly string[] SigHow = { "SIG_BLOCK", "SIG_UNBLOCK", "SIG_SETMASK" };

    public static readonly Dictionary<ulong, string> AddressFamilies = new()
    {
        [0] = "AF_UNSPEC", [1] = "AF_UNIX", [2] = "AF_INET", [10] = "AF_INET6", [16] = "AF_NETLINK", [17] = "AF_PACKET",
        [38] = "AF_ALG", [40] = "AF_VSOCK", [44] = "AF_XDP",
    };

    public static readonly Dictionary<ulong, string> SocketTypes = new()
    {
        [1] = "SOCK_STREAM", [2] = "SOCK_DGRAM", [3] = "SOCK_RAW", [4] = "SOCK_RDM", [5] = "SOCK_SEQPACKET", [10] = "SOCK_PACKET",
    };

    public static readonly (ulong, string)[] SocketTypeFlags = { (0x800, "SOCK_NONBLOCK"), (0x80000, "SOCK_CLOEXEC") };

    public static readonly (ulong, string)[] WaitOptions =
        { (1, "WNOHANG"), (2, "WUNTRACED"), (4, "WEXITED"), (8, "WCONTINUED"), (0x1000000, "WNOWAIT"), (0x20000000, "__WNOTHREAD"), (0x40000000, "__WALL"), (0x80000000, "__WCLONE") };

    public static readonly Dictionary<ulong, string> ArchPrctl = new()
    {
        [0x1001] = "ARCH_SET_GS", [0x1002] = "ARCH_SET_FS", [0x1003] = "ARCH_GET_FS", [0x1004] = "ARCH_GET_GS",
        [0x1011] = "ARCH_GET_CPUID", [0x1012] = "ARCH_SET_CPUID", [0x4001] = "ARCH_GET_UNTAG_MASK", [0x4002] = "ARCH_ENABLE_TAGGED_ADDR",
        [0x5001] = "ARCH_SHSTK_ENABLE", [0x5002] = "ARCH_SHSTK_DISABLE", [0x5003] = "ARCH_SHSTK_LOCK", [0x5005] = "ARCH_SHSTK_STATUS",
    };

    public static readonly string[] Resources =
    {
        "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS", "RLIMIT_NPROC", "RLIMIT_NOFILE",
        "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
    };

    public static readonly (ulong, string)[] GrndFlags = { (1, "GRND_NONBLOCK"), (2, "GRND_RANDOM"), (4, "GRND_INSECURE") };

    public static readonly string[] FutexOps =
    {
        "FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_FD", "FUTEX_REQUEUE", "FUTEX_CMP_REQUEUE", "FUTEX_WAKE_OP", "FUTEX_LOCK_PI",
        "FUTEX_UNLOCK_PI", "FUTEX_TRYLOCK_PI", "FUTEX_WAIT_BITSET", "FUTEX_WAKE_BITSET", "FUTEX_WAIT_REQUEUE_PI",
        "FUTEX_CMP_REQUEUE_PI", "FUTEX_LOCK_PI2",
    };

    public static string FileType(uint mode) => (mode & 0xF000) switch
    {
        0x8000 => "S_IFREG", 0x4000 => "S_IFDIR", 0x2000 => "S_IFCHR", 0x6000 => "S_IFBLK", 0x1000 => "S_IFIFO",
        0xA000 => "S_IFLNK", 0xC000 => "S_IFSOCK", _ => "0",
    };

    public static readonly Dictionary<int, string> SigCodes = new()
    {
        [0] = "SI_USER", [0x80] = "SI_KERNEL", [-1] = "SI_QUEUE", [-2] = "SI_TIMER", [-3] = "SI_MESGQ", [-4] = "SI_ASYNCIO",
        [-5] = "SI_SIGIO", [-6] = "SI_TKILL",
    };

    /// <summary>si_code names that depend on the signal (SIGCHLD's CLD_*, SIGSEGV's SEGV_*, …).</summary>
    public static string SigCode(int signal, int code)
    {
        if (code <= 0 || code == 0x80) return SigCodes.TryGetValue(code, out var n) ? n : code.ToString();
        string[]? names = signal switch
        {
            17 => new[] { "CLD_EXITED", "CLD_KILLED", "CLD_DUMPED", "CLD_TRAPPED", "CLD_STOPPED", "CLD_CONTINUED" },
            11 => new[] { "SEGV_MAPERR", "SEGV_ACCERR", "SEGV_BNDERR", "SEGV_PKUERR" },
            7 => new[] { "BUS_ADRALN", "BUS_ADRERR", "BUS_OBJERR" },
            8 => new[] { "FPE_INTDIV", "FPE_INTOVF", "FPE_FLTDIV", "FPE_FLTOVF", "FPE_FLTUND", "FPE_FLTRES", "FPE_FLTINV", "FPE_FLTSUB" },
            4 => new[] { "ILL_ILLOPC", "ILL_ILLOPN", "ILL_ILLADR", "ILL_ILLTRP", "ILL_PRVOPC", "ILL_PRVREG", "ILL_COPROC", "ILL_BADSTK" },
            5 => new[] { "TRAP_BRKPT", "TRAP_TRACE", "TRAP_BRANCH", "TRAP_HWBKPT" },
            31 => new[] { "SYS_SECCOMP" },
            _ => null,
        };
        return names is not null && code - 1 < names.Length ? names[code - 1] : code.ToString();
    }
}
