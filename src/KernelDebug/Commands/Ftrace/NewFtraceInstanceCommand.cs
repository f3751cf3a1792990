using System.Management.Automation;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Makes a tracefs instance: a trace buffer of its own with its own events, tracer and filters.</summary>
[Cmdlet(VerbsCommon.New, "FtraceInstance", SupportsShouldProcess = true)]
[OutputType(typeof(FtraceInstance))]
public sealed class NewFtraceInstanceCommand : FtraceCmdlet
{
    /// <summary>Default: kerneldebug_&lt;pid&gt;_&lt;n&gt;.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    public string? Name { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(TraceClockCompleter))]
    public string? Clock { get; set; }

    [Parameter]
    [ValidateRange(4, 1 << 22)]
    public int BufferSizeKb { get; set; }

    protected override void ProcessRecord()
    {
        var name = string.IsNullOrEmpty(Name) ? KernelDebug.Host.Naming.NewInstanceName() : Name;
        if (!ShouldProcess(name, "Create tracefs instance")) return;
        this.SweepOrphans();
        var instance = Try(() => FtraceInstance.Create(name), name);
        try
        {
            if (Clock is not null) instance.SetClock(Clock);
            if (BufferSizeKb > 0) instance.SetBufferSizeKb(BufferSizeKb);
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e))
        {
            try { instance.Remove(); } catch (Exception) { /* the error below is the one to report */ }
            this.ThrowKernelError(e, name);
        }
        WriteObject(instance.Refresh());
    }
}
