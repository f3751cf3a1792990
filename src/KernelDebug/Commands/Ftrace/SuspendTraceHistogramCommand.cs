using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Pauses hist triggers (:pause): they count nothing until resumed.</summary>
[Cmdlet(VerbsLifecycle.Suspend, "TraceHistogram", SupportsShouldProcess = true, DefaultParameterSetName = "InputObject")]
public sealed class SuspendTraceHistogramCommand : HistControlCommandBase
{
    protected override string Verb => "pause";
    protected override string Description => "Pause";
}
