using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Sets the current tracer of an instance (nop, function, function_graph, ...).</summary>
[Cmdlet(VerbsCommon.Set, "FtraceTracer", SupportsShouldProcess = true)]
[OutputType(typeof(FtraceTracer))]
public sealed class SetFtraceTracerCommand : FtraceCmdlet
{
    [Parameter(Mandatory = true, Position = 0)]
    [ArgumentCompleter(typeof(TracerNameCompleter))]
    public string Name { get; set; } = "";

    [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance Instance { get; set; } = null!;

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        if (!ShouldProcess(Instance.Name, $"Set current tracer to {Name}")) return;
        Try(() => Instance.SetTracer(Name), Name);
        if (PassThru) WriteObject(new FtraceTracer { Name = Name, IsCurrent = true, Instance = Instance.Name });
    }
}
