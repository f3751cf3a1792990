using System.Collections;
using KernelDebug.Ftrace;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Completes the names synthetic_events lists.</summary>
public sealed class SyntheticEventNameCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(string c, string p, IDictionary b) => SyntheticEvents.List().Select(e => e.Name);
}
