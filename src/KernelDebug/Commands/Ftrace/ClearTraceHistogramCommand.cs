using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Empties hist triggers' tables (:clear); the triggers stay.</summary>
[Cmdlet(VerbsCommon.Clear, "TraceHistogram", SupportsShouldProcess = true, DefaultParameterSetName = "InputObject")]
public sealed class ClearTraceHistogramCommand : HistControlCommandBase
{
    protected override string Verb => "clear";
    protected override string Description => "Clear the table of";
}
