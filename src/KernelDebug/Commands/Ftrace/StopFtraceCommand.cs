using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Turns recording off in an instance (tracing_on = 0); what was recorded stays in the buffer.</summary>
[Cmdlet(VerbsLifecycle.Stop, "Ftrace", SupportsShouldProcess = true)]
[OutputType(typeof(FtraceInstance))]
public sealed class StopFtraceCommand : TracingOnCommandBase
{
    protected override bool TurnOn => false;
}
