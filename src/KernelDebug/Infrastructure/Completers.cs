using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace KernelDebug.Commands;

/// <summary>Base for completers over a list of names the kernel (or the module) lists.</summary>
public abstract class NameCompleter : IArgumentCompleter
{
    protected abstract IEnumerable<string> Names(string commandName, string parameterName, IDictionary fakeBoundParameters);

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var pattern = WildcardPattern.Get((wordToComplete ?? string.Empty).Trim('\'', '"') + "*", WildcardOptions.IgnoreCase);
        IEnumerable<string> names;
        try { names = Names(commandName, parameterName, fakeBoundParameters).ToList(); }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { yield break; }
        foreach (var n in names.Where(pattern.IsMatch).OrderBy(n => n, StringComparer.OrdinalIgnoreCase))
        {
            var text = n.IndexOfAny(new[] { ' ', '$', '(', ')', '{', '}', '@', ';', ',' }) >= 0 ? $"'{n}'" : n;
            yield return new CompletionResult(text, n, CompletionResultType.ParameterValue, n);
        }
    }
}

public sealed class CapabilityNameCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(string c, string p, IDictionary b) => KernelDebug.Host.CapabilityProbe.Names;
}

/// <summary>
/// Completes -ProcessId with the live processes: the pid is inserted, the list shows "pid comm". What is typed matches
/// the start of a pid or the command name (wildcards allowed).
/// </summary>
public sealed class ProcessIdCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var word = (wordToComplete ?? string.Empty).Trim('\'', '"');
        var pattern = WildcardPattern.Get(word + "*", WildcardOptions.IgnoreCase);
        var found = new List<(int Pid, string Comm)>();
        IEnumerable<string> dirs;
        try { dirs = Directory.EnumerateDirectories("/proc"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { yield break; }
        foreach (var dir in dirs)
        {
            var name = Path.GetFileName(dir);
            if (!int.TryParse(name, out int pid)) continue;
            string comm;
            try { comm = File.ReadAllText(Path.Combine(dir, "comm")).TrimEnd('\n'); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; } // exited meanwhile
            if (word.Length == 0 || name.StartsWith(word, StringComparison.Ordinal) || pattern.IsMatch(comm)) found.Add((pid, comm));
        }
        foreach (var (pid, comm) in found.OrderBy(p => p.Pid))
        {
            var text = pid.ToString(System.Globalization.CultureInfo.InvariantCulture);
            yield return new CompletionResult(text, $"{text} {comm}", CompletionResultType.ParameterValue, $"{text} {comm}");
        }
    }
}
