using System.Management.Automation;
using KernelDebug.Ftrace;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Lists the synthetic events (synthetic_events) as objects.</summary>
[Cmdlet(VerbsCommon.Get, "SyntheticEvent")]
[OutputType(typeof(SyntheticEvent))]
public sealed class GetSyntheticEventCommand : FtraceCmdlet
{
    [Parameter(Position = 0)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(SyntheticEventNameCompleter))]
    public string[]? Name { get; set; }

    protected override void ProcessRecord()
    {
        Try(SyntheticEvents.EnsureAvailable);
        var patterns = (Name ?? new[] { "*" }).Select(n => new WildcardPattern(n, WildcardOptions.IgnoreCase)).ToList();
        foreach (var e in Try(SyntheticEvents.List))
            if (patterns.Any(p => p.IsMatch(e.Name))) WriteObject(e);
    }
}
