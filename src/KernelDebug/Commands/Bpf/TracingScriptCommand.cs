using System.Management.Automation;
using KernelDebug.Bpf;
using KernelDebug.Common;
using KernelDebug.Native;

namespace KernelDebug.Commands;

/// <summary>
/// What Invoke-Bpftrace and Invoke-SystemTap share: the script file, duration and traced-command parameters, and the
/// run loop (the tool on a producer thread, its output drained on the pipeline thread, SIGINT on stop or Ctrl+C).
/// </summary>
public abstract class TracingScriptCommand : PSCmdlet
{
    [Parameter(Mandatory = true, ParameterSetName = "Path")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>How long to trace; then the tool gets SIGINT and prints its final output.</summary>
    [Parameter]
    public TimeSpan? Duration { get; set; }

    /// <summary>A program for the tool to start and trace (-c); found on PATH when not a path, a relative path is resolved against the current location.</summary>
    [Parameter]
    public string? Command { get; set; }

    [Parameter]
    public string[]? ArgumentList { get; set; }

    private ToolProcess? _tool;
    private PipelinePump<object>? _pump;

    /// <summary>The script file of -Path, which must exist.</summary>
    protected string ScriptFile(string what)
    {
        var file = GetUnresolvedProviderPathFromPSPath(Path);
        if (!File.Exists(file)) throw new FileNotFoundException($"The {what} '{file}' does not exist.", file);
        return file;
    }

    /// <summary>The tool's time limit: -Duration, which must be longer than zero (a Timer refuses a negative one with a raw message).</summary>
    protected TimeSpan? CheckedDuration() => Duration is { } d && d <= TimeSpan.Zero
        ? throw new KernelDebugException($"-Duration must be longer than zero (it is {d}).", "InvalidDuration", ErrorCategory.InvalidArgument) { Target = d.ToString() }
        : Duration;

    /// <summary>The -c option for -Command and -ArgumentList, or nothing.</summary>
    protected IEnumerable<string> CommandOption() =>
        Command is null ? Array.Empty<string>() : new[] { "-c", ScriptCommandLine.Build(Command, ArgumentList, GetUnresolvedProviderPathFromPSPath) };

    /// <summary>Runs the tool to its end, handing each parsed object to emit on the pipeline thread.</summary>
    protected void Run(ToolProcess tool, Func<string, IEnumerable<object>> parse, Action<object> emit, Func<string, bool>? isReady = null)
    {
        _tool = tool;
        using (_pump = new PipelinePump<object>(1024))
        using (ConsoleInterrupt.TryStart(Host, tool.Interrupt))
        {
            var duration = CheckedDuration();
            var producer = _pump.RunProducer(p => tool.Run(p, parse, duration, isReady));
            foreach (var item in _pump.Drain()) emit(item);
            producer.Wait();
        }
    }

    /// <summary>Whether the tool failed on its own (not ended by us with SIGINT).</summary>
    protected static bool Failed(ToolProcess tool) => tool.ExitCode is int code && code != 0 && !tool.WasInterrupted;

    protected override void StopProcessing()
    {
        _tool?.Interrupt();
        _pump?.Cancel();
    }
}
