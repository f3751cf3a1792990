using System.Management.Automation;
using KernelDebug.Host;
using KernelDebug.Native;
using KernelDebug.Probes;

namespace KernelDebug.Commands.Probes;

/// <summary>What New-Kprobe, New-Uprobe, New-Eprobe and New-Fprobe share: naming, arguments, enabling, and the write.</summary>
public abstract class NewProbeCmdletBase : PSCmdlet
{
    /// <summary>The event name (events/&lt;group&gt;/&lt;name&gt;).</summary>
    public abstract string? EventName { get; }

    [Parameter]
    [ArgumentCompleter(typeof(ProbeGroupCompleter))]
    public string Group { get; set; } = Naming.DefaultGroup;

    [Parameter]
    [Alias("Fetch")]
    public string[] Argument { get; set; } = Array.Empty<string>();

    [Parameter]
    public SwitchParameter Enable { get; set; }

    [Parameter]
    public string? Filter { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(KernelDebug.Commands.Ftrace.FtraceInstanceNameCompleter))]
    public string? Instance { get; set; }

    protected abstract ProbeKind Kind { get; }

    /// <summary>The definition line to write (may resolve symbols; throws on bad input).</summary>
    protected abstract string BuildDefinition();

    protected override void ProcessRecord()
    {
        string definition;
        DynamicEvents events;
        try
        {
            definition = BuildDefinition();
            var traceFs = KernelFileSystems.GetTraceFs(WriteVerbose);
            var file = DynamicEvents.FileFor(Kind);
            if (Kind is ProbeKind.Eprobe or ProbeKind.Fprobe or ProbeKind.Tprobe) file = ProbeEventsFile.DynamicEvents;
            events = new DynamicEvents(traceFs);
            // Syntax first (it needs no kprobe support), then whether this kernel can make the probe at all.
            var error = ProbeValidator.Validate(definition, file, events.Environment);
            if (error is not null) throw error.ToException();
            // The whole command cannot run on this kernel: a terminating error (the error rule of about_KernelDebug).
            try { DynamicEvents.EnsureSupported(Kind); }
            catch (KernelDebugException e) { this.ThrowKernelError(e, EventName); }
            if (Filter is not null || Instance is not null) Enable = true;
            var where = Instance is null ? "the top level" : $"instance {Instance}";
            if (!ShouldProcess($"{DynamicEvents.FileName(file)}: {definition}", Enable ? $"Create probe and enable it in {where}" : "Create probe"))
                return;
            this.SweepOrphans();
            var probe = events.Create(definition, file);
            if (Enable)
            {
                try { events.Enable(probe.Group, probe.Name, Instance ?? string.Empty, Filter); }
                catch
                {
                    // No half-made probe: what was created is removed when enabling fails.
                    try { events.Remove(probe, force: true); } catch (KernelDebugException) { }
                    throw;
                }
                probe.EnabledIn = ItemList.Of(events.EnabledIn(probe.Group, probe.Name));
                probe.Enabled = probe.EnabledIn.Count > 0;
            }
            WriteObject(probe);
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e))
        {
            this.WriteKernelError(e, EventName);
        }
    }

    protected string GroupWord => ProbeCommand.Word(Group, nameof(Group));
}

/// <summary>What Get-Kprobe, Get-Uprobe and Get-DynamicEvent share: name and group filters, -Owned.</summary>
public abstract class GetProbeCmdletBase : PSCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(ProbeNameCompleter))]
    public string[]? Name { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(ProbeGroupCompleter))]
    public string[]? Group { get; set; }

    [Parameter]
    public SwitchParameter Owned { get; set; }

    protected abstract ProbeEventsFile File { get; }
    protected virtual ProbeKind? RequiredKind => null;
    protected virtual bool Include(ProbeDefinition d) => true;

    protected override void ProcessRecord()
    {
        DynamicEvents events;
        List<ProbeDefinition> listed;
        try
        {
            events = ProbeCmdletSupport.Open(this, RequiredKind, File);
            listed = events.List(File).Where(Include).ToList();
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e); return; }
        foreach (var d in ProbeFilter.Apply(listed, Name, Group, Owned))
            WriteObject(d);
        // Like Get-Process -Name: a name without wildcards that matches nothing is an error of its own.
        ProbeCmdletSupport.WriteNotFound(this, listed, Name, Group, Owned, File);
    }
}

/// <summary>What the probe cmdlets share: opening dynamic events (terminating when the kernel lacks them) and the per-name not-found errors.</summary>
internal static class ProbeCmdletSupport
{
    public static DynamicEvents Open(PSCmdlet cmdlet, ProbeKind? required, ProbeEventsFile file)
    {
        if (required is { } k) DynamicEvents.EnsureSupported(k);
        var events = new DynamicEvents(KernelFileSystems.GetTraceFs(cmdlet.WriteVerbose));
        if (!System.IO.File.Exists(events.PathOf(file)))
            throw new KernelDebugException($"{DynamicEvents.FileName(file)} is absent from tracefs: {KernelConfig.Explain("CONFIG_DYNAMIC_EVENTS")}.", "DynamicEventsNotSupported", ErrorCategory.NotInstalled)
            { Remedy = "Boot a kernel built with CONFIG_KPROBE_EVENTS, CONFIG_UPROBE_EVENTS or CONFIG_DYNAMIC_EVENTS." };
        return events;
    }

    public static void WriteNotFound(Cmdlet cmdlet, IReadOnlyList<ProbeDefinition> listed, string[]? names, string[]? groups, bool owned, ProbeEventsFile file)
    {
        if (names is null) return;
        foreach (var name in names.Where(n => !WildcardPattern.ContainsWildcardCharacters(n)))
        {
            if (ProbeFilter.Apply(listed, new[] { name }, groups, owned).Any()) continue;
            cmdlet.WriteKernelError(new KernelDebugException($"No probe named {name}{(groups is null ? "" : $" in group {string.Join(", ", groups)}")} in {DynamicEvents.FileName(file)}.",
                "ProbeNotFound", ErrorCategory.ObjectNotFound) { Target = name });
        }
    }
}

/// <summary>What Remove-Kprobe, Remove-Uprobe and Remove-DynamicEvent share: pipeline input, -Owned, -Force.</summary>
public abstract class RemoveProbeCmdletBase : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Name", ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(ProbeNameCompleter))]
    public string[] Name { get; set; } = Array.Empty<string>();

    [Parameter(ParameterSetName = "Name", ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(ProbeGroupCompleter))]
    public string[]? Group { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = "InputObject", ValueFromPipeline = true)]
    public ProbeDefinition[] InputObject { get; set; } = Array.Empty<ProbeDefinition>();

    [Parameter(Mandatory = true, ParameterSetName = "Owned")]
    public SwitchParameter Owned { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected abstract ProbeEventsFile File { get; }
    protected virtual ProbeKind? RequiredKind => null;
    protected virtual bool Include(ProbeDefinition d) => true;

    private DynamicEvents? _events;

    private static bool IsOtherLiveSession(ProbeDefinition d) =>
        Naming.OwnerProcessId(d.Group) is { } pid && pid != Naming.ProcessId && Directory.Exists($"/proc/{pid}");

    protected override void ProcessRecord()
    {
        List<ProbeDefinition> listed;
        try
        {
            _events ??= ProbeCmdletSupport.Open(this, RequiredKind, File);
            listed = _events.List(File).Where(Include).ToList();
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e); return; }
        try
        {
            IEnumerable<ProbeDefinition> targets;
            if (ParameterSetName == "InputObject")
            {
                targets = InputObject.Select(d => listed.FirstOrDefault(l => l.Group == d.Group && l.Name == d.Name) ?? d);
            }
            else
            {
                var chosen = ProbeFilter.Apply(listed, ParameterSetName == "Owned" ? null : Name, ParameterSetName == "Owned" ? null : Group, Owned).ToList();
                if (Owned)
                {
                    // kerneldebug_<pid> groups of other live sessions are theirs to remove (they go when that call ends).
                    foreach (var other in chosen.Where(IsOtherLiveSession).Select(d => d.Group).Distinct())
                        WriteVerbose($"Leaving group {other}: it belongs to process {Naming.OwnerProcessId(other)}, which is still running.");
                    chosen = chosen.Where(d => !IsOtherLiveSession(d)).ToList();
                }
                // One error per name that matches nothing; the other names are removed.
                if (ParameterSetName == "Name") ProbeCmdletSupport.WriteNotFound(this, listed, Name, Group, false, File);
                targets = chosen;
            }
            // One event may have several probes (multi-probe events); -:group/event removes them all, once.
            foreach (var d in targets.GroupBy(t => t.FullName).Select(g => g.First()))
            {
                if (!ShouldProcess($"{d.Source}: {d.FullName} ({d.Definition})", Force ? "Disable (if enabled) and remove probe" : "Remove probe")) continue;
                try { _events.Remove(d, Force); }
                catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, d); }
            }
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e))
        {
            this.WriteKernelError(e);
        }
    }
}

internal static class ProbeFilter
{
    public static IEnumerable<ProbeDefinition> Apply(IEnumerable<ProbeDefinition> list, string[]? names, string[]? groups, bool owned)
    {
        var namePatterns = names?.Select(n => WildcardPattern.Get(n, WildcardOptions.None)).ToList();
        var groupPatterns = groups?.Select(g => WildcardPattern.Get(g, WildcardOptions.None)).ToList();
        foreach (var d in list)
        {
            if (owned && !d.IsOwned) continue;
            if (namePatterns is not null && !namePatterns.Any(p => p.IsMatch(d.Name) || p.IsMatch(d.FullName))) continue;
            if (groupPatterns is not null && !groupPatterns.Any(p => p.IsMatch(d.Group))) continue;
            yield return d;
        }
    }
}
