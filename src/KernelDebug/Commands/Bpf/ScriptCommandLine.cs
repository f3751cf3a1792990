using System.Management.Automation;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Commands;

/// <summary>The -c command line of bpftrace and stap: an absolute program path and arguments the tool splits itself.</summary>
internal static class ScriptCommandLine
{
    // bpftrace splits -c on spaces; stap runs it through wordexp(3), which expands $, `, globs and ~, and falls back to
    // "sh -c" when it meets | & ; < > ( ) { } or a newline. Refusing all of these keeps every word literal and no shell in between.
    private static readonly char[] Unsafe = " \t\r\n\"'\\|&;<>(){}$`*?[~".ToCharArray();

    /// <param name="resolvePath">Turns a relative path into an absolute one against PowerShell's current location.</param>
    public static string Build(string command, string[]? arguments, Func<string, string> resolvePath)
    {
        // A path (it has a slash) is relative to PowerShell's location, not the process's working directory; bpftrace -c
        // needs it absolute. A bare name is looked up on PATH, as a shell would.
        var candidate = command.Contains('/') ? resolvePath(command) : command;
        var path = ProgramLocator.Find(candidate) ?? throw new KernelDebugException(
            $"The program '{command}' to trace was not found ({(command.Contains('/') ? $"no file {candidate}" : "not on PATH")}).", "CommandNotFound", ErrorCategory.ObjectNotFound) { Target = command };
        path = System.IO.Path.GetFullPath(path);
        var parts = new List<string> { path };
        parts.AddRange(arguments ?? Array.Empty<string>());
        foreach (var p in parts)
        {
            int bad = p.IndexOfAny(Unsafe);
            if (bad >= 0 || p.Length == 0)
                throw new KernelDebugException(bad < 0 ? "An empty command argument cannot pass through the tracing tool's -c option."
                    : $"The command argument '{p}' contains {(char.IsWhiteSpace(p[bad]) ? "whitespace" : $"'{p[bad]}'")}, which the tracing tool's -c option would split, expand or hand to a shell.",
                    "UnsafeCommandArgument", ErrorCategory.InvalidArgument) { Target = p, Position = bad < 0 ? null : bad };
        }
        return string.Join(" ", parts);
    }
}

/// <summary>
/// In an interactive console, reads Ctrl+C as a key while a tool runs and turns it into SIGINT for the tool, so the tool
/// prints its final maps and the cmdlet still emits them (a stopped pipeline could not). Elsewhere, does nothing.
/// </summary>
internal sealed class ConsoleInterrupt : IDisposable
{
    private readonly bool _saved;
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _reader;

    private ConsoleInterrupt(Action interrupt)
    {
        _saved = Console.TreatControlCAsInput;
        Console.TreatControlCAsInput = true;
        _reader = Task.Run(async () =>
        {
            while (!_cts.IsCancellationRequested)
            {
                try
                {
                    if (Console.KeyAvailable)
                    {
                        var k = Console.ReadKey(intercept: true);
                        if (k.Key == ConsoleKey.C && (k.Modifiers & ConsoleModifiers.Control) != 0) interrupt();
                        continue;
                    }
                }
                catch (InvalidOperationException) { return; }
                catch (IOException) { return; }
                await Task.Delay(100).ConfigureAwait(false);
            }
        });
    }

    public static IDisposable? TryStart(System.Management.Automation.Host.PSHost host, Action interrupt)
    {
        if (host.Name != "ConsoleHost" || Console.IsInputRedirected || Console.IsOutputRedirected) return null;
        try { return new ConsoleInterrupt(interrupt); }
        catch (Exception e) when (e is IOException or InvalidOperationException or PlatformNotSupportedException) { return null; }
    }

    public void Dispose()
    {
        _cts.Cancel();
        try { _reader.Wait(TimeSpan.FromSeconds(1)); } catch (AggregateException) { }
        try { Console.TreatControlCAsInput = _saved; } catch (IOException) { }
        _cts.Dispose();
    }
}
