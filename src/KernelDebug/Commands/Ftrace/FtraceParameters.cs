using System.Collections;
using System.Management.Automation;
using KernelDebug.Ftrace;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Commands.Ftrace;

/// <summary>
/// Lets -Instance take an FtraceInstance or its name ("/" for the top-level buffer). Other values pass through,
/// so pipeline binding can try the next parameter.
/// </summary>
public sealed class FtraceInstanceTransformationAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        var value = inputData is PSObject p ? p.BaseObject : inputData;
        if (value is string name)
        {
            try { return FtraceInstance.Get(name); }
            catch (KernelDebugException e) { throw new ArgumentTransformationMetadataException(e.Message, e); }
        }
        return value;
    }
}

/// <summary>Shared parts of the ftrace cmdlets.</summary>
public abstract class FtraceCmdlet : PSCmdlet
{
    /// <summary>Runs an engine action and turns its failure into a terminating ErrorRecord.</summary>
    protected void Try(Action action, object? target = null)
    {
        try { action(); }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e, target); }
    }

    protected T Try<T>(Func<T> func, object? target = null)
    {
        try { return func(); }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e, target); throw; }
    }

    /// <summary>Events named by 'system:event' globs; a pattern that matches nothing is an error.</summary>
    protected IReadOnlyList<(string System, string Name)> MatchEvents(IEnumerable<string> patterns)
    {
        var list = new List<(string, string)>();
        foreach (var p in patterns)
        {
            var found = Try(() => TraceEventCatalog.Match(new[] { p }), p);
            if (found.Count == 0)
                WriteError(new ErrorRecord(new ItemNotFoundException($"No trace event matches '{p}'. Get-TraceEvent lists them; names are 'system:event'."),
                    "TraceEventNotFound", ErrorCategory.ObjectNotFound, p));
            list.AddRange(found.Where(f => !list.Contains(f)));
        }
        return list;
    }
}

public sealed class FtraceInstanceNameCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(string c, string p, IDictionary b) =>
        FtraceInstance.List().Select(i => i.Name).Prepend(FtraceInstance.TopLevelName);
}

public sealed class TraceEventNameCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(string c, string p, IDictionary b)
    {
        var events = TraceEventCatalog.List();
        return events.Select(e => e.System + ":*").Distinct().Concat(events.Select(e => e.System + ":" + e.Name));
    }
}

public sealed class TracerNameCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(string c, string p, IDictionary b) => FtraceInstance.TopLevel.AvailableTracers;
}

public sealed class FunctionNameCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(string c, string p, IDictionary b) =>
        FunctionFilter.ReadAvailableFunctions(out _)?.Select(f => f.Function).Distinct() ?? Enumerable.Empty<string>();
}

public sealed class TraceClockCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(string c, string p, IDictionary b) =>
        (ControlFile.TryReadText(Path.Combine(KernelFileSystems.GetTraceFs(), "trace_clock"), out _) ?? "")
            .Replace("[", "").Replace("]", "").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
}
