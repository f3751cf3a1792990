namespace KernelDebug;

/// <summary>One finished call of a library function (ltrace's line): arguments at entry, return value and time at return.</summary>
public sealed class LibraryCall
{
    public DateTime Timestamp { get; init; }
    public int ProcessId { get; init; }
    public int ThreadId { get; init; }
    public string Library { get; init; } = string.Empty;
    public string Function { get; init; } = string.Empty;
    public ItemList<SyscallArgument> Arguments { get; init; } = ItemList<SyscallArgument>.Empty;
    /// <summary>Typed as the prototype says (long, string, or the raw word); null when the return was not seen.</summary>
    public object? ReturnValue { get; init; }
    public ulong? ReturnRaw { get; init; }
    /// <summary>The return value as ltrace prints it; '?' when the return was not seen.</summary>
    public string ReturnText { get; init; } = "?";
    /// <summary>Entry to return; null when the return was not seen (the process ended inside the call, or longjmp).</summary>
    public TimeSpan? Duration { get; init; }

    public string ArgumentText => Arguments.ToString();

    public override string ToString() => $"{Function}({ArgumentText}) = {ReturnText}";
}

/// <summary>ltrace -c: calls and time per function.</summary>
public sealed class LibraryCallSummary
{
    public string Function { get; init; } = string.Empty;
    public long Calls { get; init; }
    public TimeSpan TotalTime { get; init; }
    public TimeSpan AverageTime { get; init; }
    public double Percent { get; init; }
}
