using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Turns recording off in an instance (tracing_on = 0); what was recorded stays in the buffer.</summary>
[Cmdlet(VerbsLifecycle.Stop, "Ftrace", SupportsShouldProcess = true)]
[OutputType(typeof(FtraceInstance))]
public sealed class StopFtraceCommand : FtraceCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance Instance { get; set; } = null!;

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        if (!ShouldProcess(Instance.Name, "Stop recording (tracing_on = 0)")) return;
        Try(() => Instance.SetTracingOn(false), Instance);
        if (PassThru) WriteObject(Instance.Refresh());
    }
}
