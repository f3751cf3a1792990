using System.Management.Automation;
using KernelDebug.Probes;

namespace KernelDebug.Commands.Probes;

/// <summary>Removes kprobes (kprobe_events); an enabled one only with -Force, which disables it first.</summary>
[Cmdlet(VerbsCommon.Remove, "Kprobe", SupportsShouldProcess = true, DefaultParameterSetName = "Name", ConfirmImpact = ConfirmImpact.Medium)]
public sealed class RemoveKprobeCommand : RemoveProbeCmdletBase
{
    protected override ProbeEventsFile File => ProbeEventsFile.KprobeEvents;
    protected override ProbeKind? RequiredKind => ProbeKind.Kprobe;
}

/// <summary>Removes uprobes (uprobe_events); an enabled one only with -Force, which disables it first.</summary>
[Cmdlet(VerbsCommon.Remove, "Uprobe", SupportsShouldProcess = true, DefaultParameterSetName = "Name", ConfirmImpact = ConfirmImpact.Medium)]
public sealed class RemoveUprobeCommand : RemoveProbeCmdletBase
{
    protected override ProbeEventsFile File => ProbeEventsFile.UprobeEvents;
    protected override ProbeKind? RequiredKind => ProbeKind.Uprobe;
}

/// <summary>Removes dynamic events of any kind (dynamic_events); an enabled one only with -Force.</summary>
[Cmdlet(VerbsCommon.Remove, "DynamicEvent", SupportsShouldProcess = true, DefaultParameterSetName = "Name", ConfirmImpact = ConfirmImpact.Medium)]
public sealed class RemoveDynamicEventCommand : RemoveProbeCmdletBase
{
    protected override ProbeEventsFile File => ProbeEventsFile.DynamicEvents;
}
