using System.Management.Automation;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Commands;

/// <summary>The -c command line of bpftrace and stap: an absolute program path and arguments the tool splits on spaces.</summary>
internal static class ScriptCommandLine
{
    public static string Build(string command, string[]? arguments)
    {
        var path = ProgramLocator.Find(command) ?? throw new KernelDebugException(
            $"The program '{command}' to trace was not found (not a file, and not on PATH).", "CommandNotFound", ErrorCategory.ObjectNotFound) { Target = command };
        path = System.IO.Path.GetFullPath(path);
        var parts = new List<string> { path };
        parts.AddRange(arguments ?? Array.Empty<string>());
        foreach (var p in parts)
        {
            // The tool splits its -c string itself, on spaces and without a shell: refuse what it would split or interpret.
            int bad = p.IndexOfAny(new[] { ' ', '\t', '\n', '"', '\'', '\\' });
            if (bad >= 0 || p.Length == 0)
                throw new KernelDebugException($"The command argument '{p}' contains whitespace or quotes, which the tracing tool's -c option cannot pass through.",
                    "UnsafeCommandArgument", ErrorCategory.InvalidArgument) { Target = p, Position = bad };
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
