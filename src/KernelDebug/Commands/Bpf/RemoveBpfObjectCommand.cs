using System.Management.Automation;
using KernelDebug.Bpf;

namespace KernelDebug.Commands;

/// <summary>Detaches an object's programs and closes its programs and maps: the kernel frees them once nothing else holds them.</summary>
[Cmdlet(VerbsCommon.Remove, "BpfObject", SupportsShouldProcess = true)]
public sealed class RemoveBpfObjectCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    public BpfObject[] Object { get; set; } = Array.Empty<BpfObject>();

    protected override void ProcessRecord()
    {
        foreach (var o in Object)
            if (!o.IsDisposed && ShouldProcess(o.Name, "Detach and unload the BPF object")) o.Dispose();
    }
}
