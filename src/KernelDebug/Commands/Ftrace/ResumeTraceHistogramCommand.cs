using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Continues paused hist triggers (:cont).</summary>
[Cmdlet(VerbsLifecycle.Resume, "TraceHistogram", SupportsShouldProcess = true, DefaultParameterSetName = "InputObject")]
public sealed class ResumeTraceHistogramCommand : HistControlCommandBase
{
    protected override string Verb => "cont";
    protected override string Description => "Continue";
}
