using System.Management.Automation;
using KernelDebug.Probes;

namespace KernelDebug.Commands.Probes;

/// <summary>Lists the kprobes of kprobe_events as ProbeDefinition objects.</summary>
[Cmdlet(VerbsCommon.Get, "Kprobe")]
[OutputType(typeof(ProbeDefinition))]
public sealed class GetKprobeCommand : GetProbeCmdletBase
{
    protected override ProbeEventsFile File => ProbeEventsFile.KprobeEvents;
    protected override ProbeKind? RequiredKind => ProbeKind.Kprobe;
}

/// <summary>Lists the uprobes of uprobe_events as ProbeDefinition objects.</summary>
[Cmdlet(VerbsCommon.Get, "Uprobe")]
[OutputType(typeof(ProbeDefinition))]
public sealed class GetUprobeCommand : GetProbeCmdletBase
{
    protected override ProbeEventsFile File => ProbeEventsFile.UprobeEvents;
    protected override ProbeKind? RequiredKind => ProbeKind.Uprobe;
}

/// <summary>Lists every dynamic event of dynamic_events (kprobes, uprobes, eprobes, fprobes, synthetic events).</summary>
[Cmdlet(VerbsCommon.Get, "DynamicEvent")]
[OutputType(typeof(ProbeDefinition))]
public sealed class GetDynamicEventCommand : GetProbeCmdletBase
{
    [Parameter]
    public ProbeKind[]? Kind { get; set; }

    protected override ProbeEventsFile File => ProbeEventsFile.DynamicEvents;
    protected override bool Include(ProbeDefinition d) => Kind is null || Kind.Contains(d.Kind);
}
