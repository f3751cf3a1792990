namespace KernelDebug.Launch;

/// <summary>What a caller asks for the program's standard streams (paths already resolved to full paths).</summary>
public sealed record StandardStreamRequest
{
    public string? InputPath { get; init; }
    public string? OutputPath { get; init; }
    public string? ErrorPath { get; init; }

    /// <summary>stdout and stderr that no path names go to /dev/null.</summary>
    public bool DiscardOutput { get; init; }

    /// <summary>
    /// The caller runs at a terminal it may lend the program (a console's own runspace with stdin and stdout on a tty):
    /// streams no path names are inherited, as under strace. Otherwise stdin is /dev/null and stdout and stderr are
    /// captured through pipes, so nothing reaches this process's fd 0, 1 or 2 (the channel of a remoting server or a job).
    /// </summary>
    public bool HasTerminal { get; init; }
}

/// <summary>
/// A program to start, the one launch description every -Command cmdlet builds: its path or name, its arguments, and
/// how its working directory and standard streams are set up.
/// </summary>
public sealed record LaunchTarget(string Command, IReadOnlyList<string> Arguments, LaunchOptions Options)
{
    public const string NullDevice = "/dev/null";

    /// <summary>Whether the plan for these streams needs pipes (some output stream is neither a file nor inherited).</summary>
    public static bool NeedsCapture(StandardStreamRequest streams) =>
        !streams.HasTerminal && !streams.DiscardOutput && (streams.OutputPath is null || streams.ErrorPath is null);

    /// <summary>
    /// The target for a command: named files first, then -DiscardOutput, then the terminal, else pipes read by
    /// <paramref name="capture"/> (required exactly when <see cref="NeedsCapture"/> says so).
    /// </summary>
    public static LaunchTarget Create(string command, IReadOnlyList<string> arguments, string? workingDirectory,
        StandardStreamRequest streams, OutputCapture? capture)
    {
        bool needs = NeedsCapture(streams);
        if (needs && capture is null) throw new ArgumentException("Output with no terminal and no file is captured: pass an OutputCapture.", nameof(capture));
        string? Out(string? path) => path ?? (streams.DiscardOutput ? NullDevice : null);
        return new LaunchTarget(command, arguments, new LaunchOptions
        {
            WorkingDirectory = workingDirectory,
            StandardInputPath = streams.InputPath ?? (streams.HasTerminal ? null : NullDevice),
            StandardOutputPath = Out(streams.OutputPath),
            StandardErrorPath = Out(streams.ErrorPath),
            Capture = needs ? capture : null,
        });
    }

    /// <summary>Whether this process's stdin and stdout are both terminals (a program started with them inherited can use the terminal).</summary>
    public static bool ProcessHasTerminal() => Native.Interop.isatty(0) == 1 && Native.Interop.isatty(1) == 1;

    /// <summary>The command line as perf and strace show it.</summary>
    public override string ToString() => Arguments.Count == 0 ? Command : $"{Command} {string.Join(' ', Arguments)}";
}
