using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Writes a message into an instance's trace (trace_marker; recorded as ftrace:print).</summary>
[Cmdlet(VerbsCommunications.Write, "TraceMarker", SupportsShouldProcess = true)]
public sealed class WriteTraceMarkerCommand : FtraceCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [AllowEmptyString]
    public string Message { get; set; } = "";

    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance Instance { get; set; } = null!;

    protected override void ProcessRecord()
    {
        if (!ShouldProcess(Instance.Name, $"Write trace marker '{Message}'")) return;
        try { Instance.WriteMarker(Message); }
        catch (KernelDebug.Native.KernelDebugException e) when (e.ErrorId == "TraceMarkerNotRecorded") { WriteWarning(e.Message); }
        catch (KernelDebug.Native.KernelDebugException e) when (e.ErrorId == "TraceMarkerTruncated") { this.WriteKernelError(e, Instance.Name); }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e, Message); }
    }
}
