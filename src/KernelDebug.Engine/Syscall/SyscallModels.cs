using System.Text;

namespace KernelDebug;

/// <summary>One decoded syscall argument: Value is typed (string, long, flag names, endpoint …), Raw the register, Text as strace prints it.</summary>
public sealed class SyscallArgument
{
    public SyscallArgument(string name, object? value, ulong raw, string text)
    {
        Name = name;
        Value = value;
        Raw = raw;
        Text = text;
    }

    public string Name { get; }
    public object? Value { get; }
    public ulong Raw { get; }
    public string Text { get; }
    /// <summary>With -DecodeFd: what the fd argument refers to (strace -y); else null.</summary>
    public SyscallFileDescriptor? Descriptor { get; init; }

    public override string ToString() => Text;
}

/// <summary>What a file descriptor refers to at the syscall stop, as strace -y / -yy shows it inside &lt;…&gt;.</summary>
public sealed class SyscallFileDescriptor
{
    public int Number { get; init; }
    /// <summary>File, Socket, Pipe, AnonInode (eventfd, epoll …), Directory for AT_FDCWD's working directory, or Other.</summary>
    public string Kind { get; init; } = "Other";
    /// <summary>The /proc/&lt;pid&gt;/fd/&lt;n&gt; link text: a path, socket:[inode], pipe:[inode], anon_inode:[eventfd].</summary>
    public string Target { get; init; } = string.Empty;
    /// <summary>The inode of a socket or pipe; null for files.</summary>
    public ulong? Inode { get; init; }
    /// <summary>A socket's protocol (TCP, UDP, TCPv6, UNIX, NETLINK …), from the socket's system.sockprotoname.</summary>
    public string? Protocol { get; init; }
    /// <summary>-DecodeFd Detailed: a socket's local and remote addresses (ip:port; a UNIX socket's path).</summary>
    public string? LocalAddress { get; init; }
    public string? RemoteAddress { get; init; }
    /// <summary>The text strace prints between &lt; and &gt;.</summary>
    public string Text { get; init; } = string.Empty;

    public override string ToString() => Text;
}

/// <summary>One frame of a syscall's user stack (strace -k): the address, its function, and the mapped file.</summary>
public sealed class SyscallStackFrame
{
    public ulong Address { get; init; }
    /// <summary>The function containing the address, or null when the file has no symbol for it.</summary>
    public string? Symbol { get; init; }
    /// <summary>The distance from the function's start.</summary>
    public ulong Offset { get; init; }
    /// <summary>The mapped file ([vdso], [anonymous] for JIT code or unmapped addresses).</summary>
    public string Module { get; init; } = string.Empty;
    /// <summary>The address as a file offset within Module (what strace -k prints in brackets).</summary>
    public ulong ModuleOffset { get; init; }

    /// <summary>As strace -k prints a frame: module(symbol+0x…) [0x…].</summary>
    public override string ToString() =>
        $"{Module}({(Symbol is null ? "" : $"{Symbol}+0x{Offset:x}")}) [0x{ModuleOffset:x}]";
}

/// <summary>What every Get-SyscallTrace record has: when, which process and thread, its command name.</summary>
public abstract class SyscallTraceRecord
{
    public DateTime Timestamp { get; init; }
    public int ProcessId { get; init; }
    public int ThreadId { get; init; }
    public string Comm { get; init; } = string.Empty;
}

/// <summary>A completed syscall, as one strace line.</summary>
public sealed class SyscallEvent : SyscallTraceRecord
{
    public string Name { get; init; } = string.Empty;
    public int Number { get; init; }
    public ItemList<SyscallArgument> Arguments { get; init; } = ItemList<SyscallArgument>.Empty;
    /// <summary>The return value; null when the call never returned (execve that succeeded in a dying thread, exit).</summary>
    public long? ReturnValue { get; init; }
    /// <summary>The errno name (ENOENT) when the call failed, else null.</summary>
    public string? Error { get; init; }
    public string? ErrorMessage { get; init; }
    /// <summary>Time from syscall entry to exit, as the tracer saw it (strace -T).</summary>
    public TimeSpan Duration { get; init; }
    /// <summary>The return value as strace prints it (hex for addresses, -1 for errors).</summary>
    public string ReturnText { get; init; } = string.Empty;

    /// <summary>True when -Inject replaced this call (strace's "(INJECTED)"): the kernel never ran it.</summary>
    public bool Injected { get; init; }
    /// <summary>With -DecodeFd: what a returned fd (open, socket, accept, dup …) refers to.</summary>
    public SyscallFileDescriptor? ReturnDescriptor { get; init; }
    /// <summary>With -StackTrace: the user stack at the call, innermost first (strace -k).</summary>
    public ItemList<SyscallStackFrame>? StackTrace { get; init; }

    public string ArgumentText => Arguments.ToString();

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(Name).Append('(').Append(ArgumentText).Append(')');
        sb.Append(" = ").Append(ReturnText);
        if (Error is not null) sb.Append(' ').Append(Error).Append(" (").Append(ErrorMessage).Append(')');
        if (Injected) sb.Append(" (INJECTED)");
        return sb.ToString();
    }
}

/// <summary>A signal delivered to a traced thread (strace's --- SIGCHLD {...} --- line).</summary>
public sealed class SyscallSignal : SyscallTraceRecord
{
    public string Signal { get; init; } = string.Empty;
    public int SignalNumber { get; init; }
    /// <summary>si_code by name (SI_USER, CLD_EXITED, SEGV_MAPERR …).</summary>
    public string Code { get; init; } = string.Empty;
    public int? SenderProcessId { get; init; }
    public uint? SenderUserId { get; init; }
    public string Text { get; init; } = string.Empty;

    public override string ToString() => $"--- {Signal} {Text} ---";
}

/// <summary>A traced thread or process that ended (strace's +++ exited with 0 +++ line).</summary>
public sealed class SyscallProcessExit : SyscallTraceRecord
{
    /// <summary>The exit status, or null when a signal killed it.</summary>
    public int? ExitCode { get; init; }
    /// <summary>The signal that killed it, or null.</summary>
    public string? Signal { get; init; }
    public bool CoreDumped { get; init; }

    public override string ToString() => Signal is null
        ? $"+++ exited with {ExitCode} +++"
        : $"+++ killed by {Signal}{(CoreDumped ? " (core dumped)" : "")} +++";
}

/// <summary>One row of Measure-Syscall (strace -c).</summary>
public sealed class SyscallSummary
{
    public string Name { get; init; } = string.Empty;
    public long Calls { get; init; }
    public long Errors { get; init; }
    public TimeSpan TotalTime { get; init; }
    public TimeSpan AverageTime { get; init; }
    /// <summary>Share of the total syscall time, 0–100.</summary>
    public double Percent { get; init; }
}

/// <summary>struct stat as strace shows it: {st_mode=S_IFREG|0644, st_size=…}.</summary>
public sealed class SyscallStat
{
    public ulong Device { get; init; }
    public ulong Inode { get; init; }
    public uint Mode { get; init; }
    public ulong LinkCount { get; init; }
    public uint UserId { get; init; }
    public uint GroupId { get; init; }
    public ulong RawDevice { get; init; }
    public long Size { get; init; }
    public long Blocks { get; init; }
    public string Text { get; init; } = string.Empty;

    public override string ToString() => Text;
}

/// <summary>What the BPF syscall engine counts: the numbers are kd_target.h's KD_TARGET_*.</summary>
public enum SyscallTargetKind
{
    /// <summary>Processes by pid (and, with forks followed, their children), or a launched command from its execve.</summary>
    Processes = 1,
    /// <summary>Every process on the host except the module's own.</summary>
    All = 2,
    /// <summary>The processes of a cgroup v2 and of the cgroups below it.</summary>
    CGroup = 3,
}

/// <summary>A cgroup v2 directory as the BPF programs see it: its id (the kernfs inode) and its depth below the root.</summary>
public sealed record CGroupTarget(string Path, ulong Id, int Level);
