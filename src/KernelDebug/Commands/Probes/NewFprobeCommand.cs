using System.Management.Automation;
using KernelDebug.Probes;

namespace KernelDebug.Commands.Probes;

/// <summary>Creates an fprobe on a kernel function's entry or exit (f:), or a probe on a tracepoint (t:).</summary>
[Cmdlet(VerbsCommon.New, "Fprobe", SupportsShouldProcess = true, DefaultParameterSetName = "Symbol")]
[OutputType(typeof(ProbeDefinition))]
public sealed class NewFprobeCommand : NewProbeCmdletBase
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Symbol")]
    [ArgumentCompleter(typeof(KernelFunctionCompleter))]
    public string Symbol { get; set; } = string.Empty;

    [Parameter(Mandatory = true, ParameterSetName = "Tracepoint")]
    public string Tracepoint { get; set; } = string.Empty;

    [Parameter]
    public string? Name { get; set; }

    [Parameter(ParameterSetName = "Symbol")]
    public SwitchParameter Return { get; set; }

    public override string? EventName => Name;
    protected override ProbeKind Kind => ParameterSetName == "Tracepoint" ? ProbeKind.Tprobe : ProbeKind.Fprobe;

    protected override string BuildDefinition()
    {
        if (ParameterSetName == "Tracepoint")
            return ProbeCommand.Tprobe(GroupWord, Name ?? Tracepoint, Tracepoint, Argument);
        // The kernel's default names are <function>__entry / <function>__exit.
        return ProbeCommand.Fprobe(GroupWord, Name ?? $"{Symbol}__{(Return ? "exit" : "entry")}", Symbol, Return, Argument);
    }
}
