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
        if (value is string name) return Get(name);
        // A list of names or instances (Remove-FtraceInstance a,b): each element, when every one is a name or an instance.
        if (value is System.Collections.IList list && list.Count > 0)
        {
            var items = list.Cast<object?>().Select(o => o is PSObject po ? po.BaseObject : o).ToList();
            if (items.All(o => o is string or FtraceInstance))
                return items.Select(o => o as FtraceInstance ?? Get((string)o!)).ToArray();
        }
        return value;
    }

    private static FtraceInstance Get(string name)
    {
        try { return FtraceInstance.Get(name); }
        catch (KernelDebugException e) { throw new ArgumentTransformationMetadataException(e.Message, e); }
    }
}

/// <summary>Shared parts of the ftrace cmdlets.</summary>
public abstract class FtraceCmdlet : PSCmdlet
{
    /// <summary>Runs an engine action and turns its failure into a terminating ErrorRecord.</summary>
    /// <remarks>The ftrace engine finds tracefs (mounting it if needed) without a logger; Try reports such a mount.</remarks>
    protected void Try(Action action, object? target = null)
    {
        try { action(); }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e, target); }
        this.ReportMounts();
    }

    protected T Try<T>(Func<T> func, object? target = null)
    {
        T result;
        try { result = func(); }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e, target); throw; }
        this.ReportMounts();
        return result;
    }

    /// <summary>Reports a mount made outside Try (e.g. while -Instance was bound by name).</summary>
    protected override void EndProcessing() => this.ReportMounts();

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

/// <summary>Start-Ftrace and Stop-Ftrace: one write of tracing_on in an instance.</summary>
public abstract class TracingOnCommandBase : FtraceCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance Instance { get; set; } = null!;

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected abstract bool TurnOn { get; }

    protected override void ProcessRecord()
    {
        if (!ShouldProcess(Instance.Name, TurnOn ? "Start recording (tracing_on = 1)" : "Stop recording (tracing_on = 0)")) return;
        Try(() => Instance.SetTracingOn(TurnOn), Instance);
        if (PassThru) WriteObject(Instance.Refresh());
    }
}

/// <summary>Enable-TraceEvent and Disable-TraceEvent: events by name globs or from Get-TraceEvent, in an instance.</summary>
public abstract class TraceEventSwitchCommandBase : FtraceCmdlet
{
    // In the Probe set, Name and Group bind by property name from Get-Uprobe/Get-Kprobe/Get-DynamicEvent objects.
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Name")]
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "Probe")]
    [ArgumentCompleter(typeof(TraceEventNameCompleter))]
    [SupportsWildcards]
    public string[] Name { get; set; } = Array.Empty<string>();

    /// <summary>The event's system (a dynamic event's group), with -Name as bare event names.</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "Probe")]
    [Alias("System")]
    [ValidateNotNullOrEmpty]
    public string Group { get; set; } = string.Empty;

    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "InputObject")]
    public TraceEventInfo[] InputObject { get; set; } = Array.Empty<TraceEventInfo>();

    [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "Name")]
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "InputObject")]
    [Parameter(Mandatory = true, ParameterSetName = "Probe")]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance Instance { get; set; } = null!;

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>What the verb does to the events; the description is for ShouldProcess ("Enable sched:sched_switch").</summary>
    protected abstract string Describe(string events);

    protected abstract void Apply(IReadOnlyList<(string System, string Name)> events, string what);

    protected override void ProcessRecord()
    {
        IReadOnlyList<(string System, string Name)> events = ParameterSetName switch
        {
            "Name" => MatchEvents(Name),
            "Probe" => MatchEvents(Name.Select(n => $"{Group}:{n}").ToArray()),
            _ => InputObject.Select(e => (e.System, e.Name)).ToList(),
        };
        if (events.Count == 0) return;
        var what = events.Count == 1 ? $"{events[0].System}:{events[0].Name}" : $"{events.Count} events";
        if (!ShouldProcess(Instance.Name, Describe(what))) return;
        Apply(events, what);
        if (PassThru) foreach (var (s, n) in events) WriteObject(Instance.GetEvent(s, n));
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
