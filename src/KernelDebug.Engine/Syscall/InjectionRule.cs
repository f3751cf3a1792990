namespace KernelDebug.Syscall;

/// <summary>A checked -Inject rule: syscall numbers, what to do, and which invocations (counted per syscall and thread, 1-based).</summary>
public sealed class InjectionRule
{
    internal InjectionRule(HashSet<int> syscalls, int? errno, long? returnValue, int? signal, TimeSpan? delayEnter, TimeSpan? delayExit,
        int first, int last, int step, string text)
    {
        Syscalls = syscalls; Errno = errno; ReturnValue = returnValue; Signal = signal; DelayEnter = delayEnter; DelayExit = delayExit;
        First = first; Last = last; Step = step; Text = text;
    }

    public HashSet<int> Syscalls { get; }
    public int? Errno { get; }
    public long? ReturnValue { get; }
    public int? Signal { get; }
    public TimeSpan? DelayEnter { get; }
    public TimeSpan? DelayExit { get; }
    public int First { get; }
    public int Last { get; }
    /// <summary>0: only the First invocation.</summary>
    public int Step { get; }
    public string Text { get; }

    /// <summary>Whether the call is replaced (error or return value), not only delayed or signalled.</summary>
    public bool Tampers => Errno is not null || ReturnValue is not null;

    /// <summary>Whether the n-th invocation (1-based) of a syscall is injected (strace's when= arithmetic).</summary>
    public bool Matches(int invocation)
    {
        if (invocation < First || invocation > Last) return false;
        if (Step == 0) return invocation == First;
        return (invocation - First) % Step == 0;
    }

    public override string ToString() => Text;
}
