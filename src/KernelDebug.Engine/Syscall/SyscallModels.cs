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

    public override string ToString() => Text;
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

    public string ArgumentText => Arguments.ToString();

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(Name).Append('(').Append(ArgumentText).Append(')');
        sb.Append(" = ").Append(ReturnText);
        if (Error is not null) sb.Append(' ').Append(Error).Append(" (").Append(ErrorMessage).Append(')');
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

/// <summary>How Get-SyscallTrace and Measure-Syscall watch syscalls: BPF programs in the kernel, or ptrace stops (strace's way).</summary>
public enum SyscallEngine
{
    Bpf,
    Ptrace,
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
