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
