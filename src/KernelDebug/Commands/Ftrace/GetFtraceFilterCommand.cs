using System.Management.Automation;
using KernelDebug.Ftrace;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Reads the function tracer's filter files (set_ftrace_filter, set_ftrace_notrace, set_graph_*, set_ftrace_pid).</summary>
[Cmdlet(VerbsCommon.Get, "FtraceFilter")]
[OutputType(typeof(FtraceFilterEntry))]
public sealed class GetFtraceFilterCommand : FtraceCmdlet
{
    /// <summary>Default: the top-level buffer.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance? Instance { get; set; }

    /// <summary>Default: all of them.</summary>
    [Parameter]
    public FtraceFilterKind[]? Kind { get; set; }

    protected override void ProcessRecord()
    {
        var instance = Instance ?? Try(() => FtraceInstance.TopLevel);
        foreach (var kind in Kind ?? Enum.GetValues<FtraceFilterKind>())
        {
            if (Kind is null && !File.Exists(instance.FilePath(FunctionFilter.FileName(kind)))) continue;
            try { WriteObject(FunctionFilter.Read(instance, kind).ToList(), true); }
            catch (Exception e) when (CmdletErrors.IsExpected(e))
            {
                this.WriteKernelError(e, kind);
                // Where the kernel refuses one filter file it refuses them all: one error is enough.
                if (Kind is null && e is KernelDebug.Native.KernelDebugException { Category: ErrorCategory.PermissionDenied }) return;
            }
        }
    }
}
