using System.Management.Automation;
using KernelDebug.Native;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Removes tracefs instances: tracing off, events off, nop tracer, then rmdir.</summary>
[Cmdlet(VerbsCommon.Remove, "FtraceInstance", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = "Instance")]
public sealed class RemoveFtraceInstanceCommand : FtraceCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = "Instance")]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance[] Instance { get; set; } = Array.Empty<FtraceInstance>();

    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "Name")]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public string[] Name { get; set; } = Array.Empty<string>();

    /// <summary>Also remove an instance that another live KernelDebug session made for itself.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        IEnumerable<FtraceInstance> targets = Instance;
        if (ParameterSetName == "Name")
        {
            var list = new List<FtraceInstance>();
            foreach (var n in Name)
            {
                try { list.Add(FtraceInstance.Get(n)); }
                catch (KernelDebugException e) { this.WriteKernelError(e, n); }
            }
            targets = list;
        }
        foreach (var i in targets)
        {
            if (i.IsTopLevel)
            {
                WriteError(new ErrorRecord(new InvalidOperationException("The top-level trace buffer cannot be removed."), "CannotRemoveTopLevel", ErrorCategory.InvalidOperation, i));
                continue;
            }
            if (i.OwnerProcessId is int pid && pid != Environment.ProcessId && Directory.Exists($"/proc/{pid}") && !Force)
            {
                WriteError(new ErrorRecord(new InvalidOperationException($"The instance {i.Name} belongs to the running KernelDebug session of process {pid}; use -Force to remove it anyway."),
                    "FtraceInstanceInUse", ErrorCategory.ResourceBusy, i));
                continue;
            }
            if (!ShouldProcess(i.Name, "Remove tracefs instance")) continue;
            try { i.Remove(); }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, i); }
        }
    }
}
