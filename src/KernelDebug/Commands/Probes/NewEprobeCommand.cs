using System.Management.Automation;
using KernelDebug.Probes;

namespace KernelDebug.Commands.Probes;

/// <summary>Creates an event probe on an existing trace event (e:), fetching its fields and dereferencing them.</summary>
[Cmdlet(VerbsCommon.New, "Eprobe", SupportsShouldProcess = true)]
[OutputType(typeof(ProbeDefinition))]
public sealed class NewEprobeCommand : NewProbeCmdletBase
{
    [Parameter(Mandatory = true, Position = 0)]
    public string Name { get; set; } = string.Empty;

    [Parameter(Mandatory = true, Position = 1)]
    [ArgumentCompleter(typeof(KernelDebug.Commands.Ftrace.TraceEventNameCompleter))]
    public string TargetEvent { get; set; } = string.Empty;

    [Parameter]
    public string? EventFilter { get; set; }

    public override string? EventName => Name;
    protected override ProbeKind Kind => ProbeKind.Eprobe;

    protected override string BuildDefinition() => ProbeCommand.Eprobe(GroupWord, Name, TargetEvent, Argument, EventFilter);
}
