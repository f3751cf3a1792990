using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Removes hist triggers ('!' and the trigger) and their tables.</summary>
[Cmdlet(VerbsCommon.Remove, "TraceHistogram", SupportsShouldProcess = true, DefaultParameterSetName = "InputObject")]
public sealed class RemoveTraceHistogramCommand : HistControlCommandBase
{
    protected override string Verb => "remove";
    protected override string Description => "Remove hist trigger";
}
