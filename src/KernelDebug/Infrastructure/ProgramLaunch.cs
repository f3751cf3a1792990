using System.Management.Automation;
using System.Management.Automation.Host;
using System.Management.Automation.Runspaces;
using KernelDebug.Launch;

namespace KernelDebug.Commands;

/// <summary>
/// The parameters of every cmdlet that starts a program. Each cmdlet declares them itself (they keep their own base
/// classes) with the same attributes: Command at position 0, ArgumentList at position 1 taking the remaining arguments,
/// and the redirections, all in the "Command" parameter set; Module.Tests checks that the declarations agree.
/// </summary>
public interface ILaunchParameters
{
    string Command { get; }
    string[] ArgumentList { get; }
    string? RedirectStandardInput { get; }
    string? RedirectStandardOutput { get; }
    string? RedirectStandardError { get; }
    SwitchParameter DiscardOutput { get; }
}

/// <summary>
/// A cmdlet's launch of its -Command: the LaunchTarget built from the parameters (paths resolved against the PowerShell
/// location, like Start-Process), and, without a terminal, the program's output written to the Information stream
/// tagged 'stdout' or 'stderr', on the pipeline thread.
/// </summary>
internal sealed class ProgramLaunch : IDisposable
{
    public const string StdoutTag = "stdout", StderrTag = "stderr";
    private static readonly string[] StdoutTags = { StdoutTag }, StderrTags = { StderrTag };
    private readonly Cmdlet _cmdlet;
    private volatile Action? _wake;
    private long _droppedReported;

    private ProgramLaunch(PSCmdlet cmdlet, ILaunchParameters p, CaptureOverflow overflow)
    {
        _cmdlet = cmdlet;
        string? Resolve(string? path) => path is null ? null : cmdlet.GetUnresolvedProviderPathFromPSPath(path);
        var request = new StandardStreamRequest
        {
            InputPath = Resolve(p.RedirectStandardInput), OutputPath = Resolve(p.RedirectStandardOutput), ErrorPath = Resolve(p.RedirectStandardError),
            DiscardOutput = p.DiscardOutput, HasTerminal = HasTerminal(cmdlet),
        };
        if (request.InputPath is { } input && !File.Exists(input))
            throw new FileNotFoundException($"The file '{input}' for -RedirectStandardInput does not exist.", input);
        if (LaunchTarget.NeedsCapture(request))
            Capture = new OutputCapture(overflow == CaptureOverflow.Wait ? 1 << 20 : 256 << 10, overflow, () => _wake?.Invoke());
        Target = LaunchTarget.Create(p.Command, p.ArgumentList, cmdlet.SessionState.Path.CurrentFileSystemLocation.ProviderPath, request, Capture);
    }

    /// <summary>The launch for the cmdlet's -Command parameters. <paramref name="overflow"/>: DropOldest where no pipeline drains (a background recording).</summary>
    public static ProgramLaunch For(PSCmdlet cmdlet, ILaunchParameters p, CaptureOverflow overflow = CaptureOverflow.Wait) => new(cmdlet, p, overflow);

    public LaunchTarget Target { get; }

    /// <summary>The pipes' reader; null when the program keeps the terminal or every stream goes to a file.</summary>
    public OutputCapture? Capture { get; }

    /// <summary>Called (on the capture's thread) when output arrives while none waits: wake the pipeline thread's loop.</summary>
    public void OnOutput(Action wake)
    {
        _wake = wake;
        // Lines that came before the hook was set woke nobody: wake now, or a full buffer would wait forever.
        if (Capture?.HasLines == true) wake();
    }

    /// <summary>
    /// The rule for the default: the program keeps the terminal only in the console host's own runspace with stdin and
    /// stdout on a tty. A remoting server or Start-Job (ServerRemoteHost, fd 0/1 are the protocol channel), a thread job
    /// or ForEach-Object -Parallel (same process as a console, other runspace), or pwsh with its output redirected capture.
    /// </summary>
    public static bool HasTerminal(PSCmdlet cmdlet)
    {
        var host = cmdlet.Host;
        if (host is null || host.Name != "ConsoleHost") return false;
        try
        {
            if (host is not IHostSupportsInteractiveSession session || session.Runspace is null || session.Runspace != Runspace.DefaultRunspace) return false;
        }
        catch (Exception e) when (e is NotImplementedException or NotSupportedException or PSNotImplementedException or InvalidOperationException)
        {
            return false;
        }
        return LaunchTarget.ProcessHasTerminal();
    }

    /// <summary>Pipeline thread: writes the lines read so far to the Information stream.</summary>
    public void Flush() => Flush(_cmdlet, Capture, ref _droppedReported);

    /// <summary>Writes a capture's lines to a cmdlet's Information stream, and a warning for lines it dropped since <paramref name="droppedReported"/>.</summary>
    public static void Flush(Cmdlet cmdlet, OutputCapture? capture, ref long droppedReported)
    {
        if (capture is null) return;
        while (capture.TryTake(out var line))
            cmdlet.WriteInformation(line.Text, line.Stream == ProgramStream.StandardOutput ? StdoutTags : StderrTags);
        long dropped = capture.DroppedLines;
        if (dropped > droppedReported)
        {
            cmdlet.WriteWarning($"{dropped - droppedReported} line(s) of the program's output were dropped: nobody read them while it ran. Use -RedirectStandardOutput and -RedirectStandardError to keep all of it.");
            droppedReported = dropped;
        }
    }

    /// <summary>After the program ended: the rest of its output, waiting a moment for the pipes to close (a process it left behind may hold them).</summary>
    public void Finish()
    {
        if (Capture is not { IsStarted: true } capture) return;
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(1);
        while (!capture.WaitForEnd(TimeSpan.FromMilliseconds(20)))
        {
            Flush();
            if (DateTime.UtcNow > until) break;
        }
        Flush();
    }

    public void Dispose() => Capture?.Dispose();
}
