using System.Management.Automation;
using KernelDebug.Ftrace;
using KernelDebug.Native;

namespace KernelDebug.Commands.Ftrace;

/// <summary>
/// Defines a hist trigger on an event of an instance: keys (with .hex/.sym/.sym-offset/.execname/.syscall/.log2/
/// .buckets=N/.usecs), values, sort, size, filter, variables and onmax/onchange/onmatch actions (save, snapshot,
/// trace). Validated against the event's format before the write; the kernel's error_log kind and column on refusal.
/// Returns the new table as Get-TraceHistogram reads it. Removed at exit if still there.
/// </summary>
[Cmdlet(VerbsCommon.New, "TraceHistogram", SupportsShouldProcess = true)]
[OutputType(typeof(TraceHistogram))]
public sealed class NewTraceHistogramCommand : FtraceCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance Instance { get; set; } = null!;

    /// <summary>The event: 'system:event' (or 'system/event').</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ArgumentCompleter(typeof(TraceEventNameCompleter))]
    public string Event { get; set; } = "";

    [Parameter(Mandatory = true, Position = 2)]
    public string[] Key { get; set; } = Array.Empty<string>();

    [Parameter]
    public string[]? Value { get; set; }

    [Parameter]
    public string[]? Sort { get; set; }

    [Parameter]
    [ValidateRange(1, 131072)]
    public int Size { get; set; }

    [Parameter]
    public string? Filter { get; set; }

    /// <summary>Variables, 'name=expression'.</summary>
    [Parameter]
    public string[]? Variable { get; set; }

    /// <summary>Run -Action when this variable ($name) reaches a new maximum.</summary>
    [Parameter]
    public string? OnMax { get; set; }

    /// <summary>Run -Action when this variable ($name) changes.</summary>
    [Parameter]
    public string? OnChange { get; set; }

    /// <summary>Run -Action when an entry of the same key exists in this event's histogram ('system.event').</summary>
    [Parameter]
    public string? OnMatch { get; set; }

    /// <summary>The actions of the handler: 'save(field,...)', 'snapshot()', 'trace(synthetic,param,...)'.</summary>
    [Parameter]
    public string[]? Action { get; set; }

    /// <summary>A name shared by triggers whose tables are one.</summary>
    [Parameter]
    public string? Name { get; set; }

    /// <summary>Made paused: counts nothing until Resume-TraceHistogram.</summary>
    [Parameter]
    public SwitchParameter Paused { get; set; }

    protected override void ProcessRecord()
    {
        var (system, ev) = Try(() => SplitEvent(Event), Event);
        var handlers = new[] { ("onmax", OnMax), ("onchange", OnChange), ("onmatch", OnMatch) }.Where(h => !string.IsNullOrWhiteSpace(h.Item2)).ToList();
        if (handlers.Count > 1)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("Give one of -OnMax, -OnChange and -OnMatch (New-TraceHistogram writes one handler; -Action may list several actions for it)."), "HistHandlerAmbiguous", ErrorCategory.InvalidArgument, null));
        if ((handlers.Count == 0) != (Action is null || Action.Length == 0))
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-Action goes with one of -OnMax, -OnChange or -OnMatch, and they with -Action."), "HistHandlerWithoutAction", ErrorCategory.InvalidArgument, null));
        var actions = handlers.Count == 0 ? Array.Empty<string>() : Action!.Select(a => $"{handlers[0].Item1}({handlers[0].Item2!.Trim()}).{a.Trim()}").ToArray();
        var spec = new HistTriggerSpec
        {
            Keys = Key, Values = Value ?? Array.Empty<string>(), Sort = Sort ?? Array.Empty<string>(), Variables = Variable ?? Array.Empty<string>(),
            Actions = actions, Size = MyInvocation.BoundParameters.ContainsKey(nameof(Size)) ? Size : null,
            Filter = string.IsNullOrWhiteSpace(Filter) ? null : Filter, Name = string.IsNullOrWhiteSpace(Name) ? null : Name, Paused = Paused,
        };
        var format = Try(() => TraceEventCatalog.GetFormat(system, ev), Event);
        // Validated (and the kernel checked for hist support) before ShouldProcess, so -WhatIf also says what is wrong.
        Try(() => HistTriggers.EnsureAvailable(Instance, system, ev), Event);
        var (definition, error) = HistTriggers.Build(spec, format, (s, e) => Directory.Exists(Instance.FilePath(System.IO.Path.Combine("events", s, e))), SyntheticEvents.FieldCount);
        if (error is not null) this.ThrowKernelError(error.ToException(), definition);
        if (!ShouldProcess($"{system}:{ev} in {Instance.Name}", $"Add hist trigger '{definition}'")) return;
        var line = Try(() => HistTriggers.Add(Instance, format, spec), definition);
        var tables = Try(() => TraceHistogramParser.Parse(KernelDebug.Host.ControlFile.ReadText(Instance.FilePath(System.IO.Path.Combine("events", system, ev, "hist"))), format, Instance.Name), Event);
        var keyNames = spec.Keys.Select(k => k.Trim().Split('.')[0]).ToArray();
        var mine = tables.LastOrDefault(t => t.KeyNames.SequenceEqual(keyNames) && (spec.Filter is null || t.Trigger.EndsWith(" if " + spec.Filter.Trim(), StringComparison.Ordinal)))
            ?? tables.LastOrDefault();
        if (mine is not null) WriteObject(mine);
        else WriteVerbose($"Added '{line}'; the hist file shows no table for it.");
    }

    internal static (string System, string Event) SplitEvent(string name)
    {
        int sep = name.IndexOfAny(new[] { ':', '/' });
        if (sep <= 0 || sep == name.Length - 1)
            throw new KernelDebugException($"'{name}' is not a system:event name.", "TraceEventNameInvalid", ErrorCategory.InvalidArgument) { Target = name };
        return (name[..sep], name[(sep + 1)..]);
    }
}
