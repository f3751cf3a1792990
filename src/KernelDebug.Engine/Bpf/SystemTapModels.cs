namespace KernelDebug;

/// <summary>A line SystemTap printed on stdout: the script's output (stage 5) or the stage's own output (parse tree, C code…).</summary>
public sealed class SystemTapOutput
{
    public int Stage { get; init; }
    /// <summary>The line's number in stap's output, from 1.</summary>
    public long Line { get; init; }
    /// <summary>When the line was read (UTC): stap prints no time of its own.</summary>
    public DateTime Timestamp { get; init; }
    public string Text { get; init; } = "";
    public override string ToString() => Text;
}

/// <summary>A compile diagnostic of stap: its kind (parse error, semantic error…), message and place in the script.</summary>
public sealed class SystemTapDiagnostic
{
    /// <summary>error, warning or verbose.</summary>
    public string Level { get; init; } = "error";
    /// <summary>"parse error", "semantic error", "WARNING"…</summary>
    public string Kind { get; init; } = "";
    public string Message { get; init; } = "";
    public string? File { get; init; }
    public int? Line { get; init; }
    public int? Column { get; init; }
    /// <summary>The source line and caret stap prints under the error.</summary>
    public string[] Context { get; init; } = Array.Empty<string>();

    public override string ToString() => File is null ? $"{Kind}: {Message}" : $"{File}:{Line}:{Column}: {Kind}: {Message}";
}

