using System.Management.Automation;
using KernelDebug.Bpf;

namespace KernelDebug.Commands;

/// <summary>
/// Detaches an object's programs and closes its programs and maps: the kernel frees them once nothing else holds them.
/// Pinned maps stay pinned (that is what pinning is for) unless -Unpin removes the pins too.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "BpfObject", SupportsShouldProcess = true)]
public sealed class RemoveBpfObjectCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    public BpfObject[] Object { get; set; } = Array.Empty<BpfObject>();

    /// <summary>Also removes the bpffs pins of the object's pinned maps.</summary>
    [Parameter]
    public SwitchParameter Unpin { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var o in Object)
        {
            if (o.IsDisposed || !ShouldProcess(o.Name, Unpin ? "Detach and unload the BPF object, and remove its map pins" : "Detach and unload the BPF object")) continue;
            if (Unpin)
                foreach (var p in o.Unpin()) WriteVerbose($"Removed the pin {p}.");
            o.Dispose();
        }
    }
}
