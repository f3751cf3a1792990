using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Empties the ring buffer of an instance.</summary>
[Cmdlet(VerbsCommon.Clear, "FtraceBuffer", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
public sealed class ClearFtraceBufferCommand : FtraceCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance Instance { get; set; } = null!;

    protected override void ProcessRecord()
    {
        if (!ShouldProcess(Instance.Name, "Clear the trace buffer")) return;
        Try(() => Instance.ClearBuffer(), Instance);
    }
}
