using System.Management.Automation;
using System.Runtime.InteropServices;

namespace KernelDebug.Syscall;

/// <summary>Builds the SyscallEvent of a completed or unfinished call, the same way for both engines.</summary>
public static class SyscallEvents
{
    /// <summary>A call that returned; null when -Path asked for a path argument none of its arguments match.</summary>
    public static SyscallEvent? Completed(SyscallDecoder decoder, Architecture arch, WildcardPattern? path, int tgid, int tid, string comm,
        int nr, ulong[] rawArgs, SyscallArgument?[] entryArgs, long ret, bool failed, DateTime entryTime, TimeSpan duration,
        bool injected = false, Func<SyscallFileDescriptor?>? describeReturn = null, ItemList<SyscallStackFrame>? stack = null)
    {
        int errno = failed ? (int)-ret : 0;
        var sc = SyscallTable.ByNumber(nr, arch);
        var args = decoder.DecodeExit(sc, tid, rawArgs, entryArgs, ret, failed);
        if (path is { } glob && !args.Any(a => IsPathArgument(sc, arch, a) && a.Value is string s && glob.IsMatch(s))) return null;
        var returnText = failed ? (errno >= 512 ? "?" : "-1") : sc?.ReturnsAddress == true ? $"0x{(ulong)ret:x}" : ret.ToString();
        // -DecodeFd: an fd result with what it refers to, as strace -y prints it.
        var returned = failed ? null : describeReturn?.Invoke();
        if (returned is not null) returnText = $"{ret}<{returned.Text}>";
        return new SyscallEvent
        {
            Timestamp = entryTime, ProcessId = tgid, ThreadId = tid, Comm = comm,
            Name = SyscallTable.NameOf(nr, arch), Number = nr, Arguments = args,
            ReturnValue = ret, Error = failed ? ErrnoNames.Name(errno) : null, ErrorMessage = failed ? ErrnoNames.Message(errno) : null,
            Duration = duration, ReturnText = returnText, Injected = injected, ReturnDescriptor = returned, StackTrace = stack,
        };
    }

    /// <summary>A call the thread never returned from (exit_group, a thread killed in a call): strace's "= ?".</summary>
    public static SyscallEvent? Unfinished(Architecture arch, WildcardPattern? path, int tgid, int tid, string comm, int nr,
        SyscallArgument?[]? entryArgs, DateTime entryTime, TimeSpan duration, ItemList<SyscallStackFrame>? stack = null)
    {
        var sc = SyscallTable.ByNumber(nr, arch);
        var args = entryArgs?.Where(a => a is not null).Select(a => a!).ToArray() ?? Array.Empty<SyscallArgument>();
        if (path is { } glob && !args.Any(a => IsPathArgument(sc, arch, a) && a.Value is string s && glob.IsMatch(s))) return null;
        return new SyscallEvent
        {
            Timestamp = entryTime, ProcessId = tgid, ThreadId = tid, Comm = comm, Name = SyscallTable.NameOf(nr, arch),
            Number = nr, Arguments = args, ReturnValue = null, ReturnText = "?", Duration = duration, StackTrace = stack,
        };
    }

    private static bool IsPathArgument(SyscallInfo? sc, Architecture arch, SyscallArgument a) =>
        sc?.ParametersFor(arch).FirstOrDefault(p => p.Name == a.Name)?.Kind == ArgumentKind.Path;
}
