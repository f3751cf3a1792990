using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Turns recording on in an instance (tracing_on = 1).</summary>
[Cmdlet(VerbsLifecycle.Start, "Ftrace", SupportsShouldProcess = true)]
[OutputType(typeof(FtraceInstance))]
public sealed class StartFtraceCommand : TracingOnCommandBase
{
    protected override bool TurnOn => true;
}
