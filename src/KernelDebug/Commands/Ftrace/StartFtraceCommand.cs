using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Turns recording on in an instance (tracing_on = 1).</summary>
[Cmdlet(VerbsLifecycle.Start, "Ftrace", SupportsShouldProcess = true)]
[OutputType(typeof(FtraceInstance))]
public sealed class StartFtraceCommand : FtraceCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance Instance { get; set; } = null!;

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        if (!ShouldProcess(Instance.Name, "Start recording (tracing_on = 1)")) return;
        Try(() => Instance.SetTracingOn(true), Instance);
        if (PassThru) WriteObject(Instance.Refresh());
    }
}
