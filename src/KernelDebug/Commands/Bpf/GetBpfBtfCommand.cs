using System.Management.Automation;
using KernelDebug.Bpf;

namespace KernelDebug.Commands;

/// <summary>Lists the BTF objects loaded in the kernel through bpf() (what bpftool btf show prints).</summary>
[Cmdlet(VerbsCommon.Get, "BpfBtf")]
[OutputType(typeof(BpfBtf))]
public sealed class GetBpfBtfCommand : PSCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("BtfId")]
    public uint[]? Id { get; set; }

    [Parameter]
    [SupportsWildcards]
    public string? Name { get; set; }

    protected override void ProcessRecord()
    {
        var match = BpfListing.Matcher(Name);
        BpfListing.Emit(this, Id, ids => BpfInspector.GetBtfs(ids), b => match(b.Name));
    }
}
