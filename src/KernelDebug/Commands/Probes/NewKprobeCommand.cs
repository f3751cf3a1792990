using System.Management.Automation;
using KernelDebug.Probes;

namespace KernelDebug.Commands.Probes;

/// <summary>Creates a kprobe (or kretprobe with -Return) on a kernel function or address.</summary>
[Cmdlet(VerbsCommon.New, "Kprobe", SupportsShouldProcess = true, DefaultParameterSetName = "Symbol")]
[OutputType(typeof(ProbeDefinition))]
public sealed class NewKprobeCommand : NewProbeCmdletBase
{
    [Parameter(Mandatory = true, Position = 0)]
    public string Name { get; set; } = string.Empty;

    [Parameter(Mandatory = true, Position = 1, ParameterSetName = "Symbol")]
    [ArgumentCompleter(typeof(KernelFunctionCompleter))]
    public string Symbol { get; set; } = string.Empty;

    [Parameter(ParameterSetName = "Symbol")]
    public ulong Offset { get; set; }

    [Parameter(ParameterSetName = "Symbol")]
    public string? Module { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = "Address")]
    [AddressTransformation]
    public ulong Address { get; set; }

    [Parameter]
    public SwitchParameter Return { get; set; }

    [Parameter]
    [ValidateRange(1, ProbeValidator.MaxKretprobeMaxActive)]
    public int? MaxActive { get; set; }

    public override string? EventName => Name;
    protected override ProbeKind Kind => ProbeKind.Kprobe;

    protected override string BuildDefinition()
    {
        if (MaxActive is not null && !Return)
            throw new Native.KernelDebugException("-MaxActive applies to return probes only; add -Return.", "MaxActiveNeedsReturn", ErrorCategory.InvalidArgument);
        return ProbeCommand.Kprobe(GroupWord, Name, ParameterSetName == "Symbol" ? Symbol : null, Offset, Module,
            ParameterSetName == "Address" ? Address : null, Return, MaxActive, Argument);
    }
}
