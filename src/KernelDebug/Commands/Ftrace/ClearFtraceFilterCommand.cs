using System.Management.Automation;
using KernelDebug.Ftrace;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Empties function filter files of an instance (all of them by default).</summary>
[Cmdlet(VerbsCommon.Clear, "FtraceFilter", SupportsShouldProcess = true)]
public sealed class ClearFtraceFilterCommand : FtraceCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance Instance { get; set; } = null!;

    [Parameter]
    public FtraceFilterKind[]? Kind { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var kind in Kind ?? Enum.GetValues<FtraceFilterKind>())
        {
            if (!File.Exists(Instance.FilePath(FunctionFilter.FileName(kind)))) continue;
            if (!ShouldProcess(Instance.Name, $"Clear {FunctionFilter.FileName(kind)}")) continue;
            try { FunctionFilter.Clear(Instance, kind); }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, kind); }
        }
    }
}
