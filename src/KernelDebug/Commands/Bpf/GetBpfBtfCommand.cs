using System.Management.Automation;
using KernelDebug.Bpf;

namespace KernelDebug.Commands;

/// <summary>Lists the BTF objects loaded in the kernel through bpf() (what bpftool btf show prints).</summary>
[Cmdlet(VerbsCommon.Get, "BpfBtf")]
[OutputType(typeof(BpfBtf))]
public sealed class GetBpfBtfCommand : PSCmdlet
{
    [Parameter(Position = 0)]
    public uint[]? Id { get; set; }

    /// <summary>BTF ids from the pipeline: the BtfId of a program or map (Get-BpfMap | Get-BpfBtf).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public uint[]? BtfId { get; set; }

    [Parameter]
    [SupportsWildcards]
    public string? Name { get; set; }

    protected override void ProcessRecord()
    {
        var match = BpfListing.Matcher(Name);
        // BtfId 0 means "no BTF": a program or map without BTF yields nothing.
        var fromPipeline = BtfId?.Where(i => i != 0).ToArray();
        BpfListing.Emit(this, BpfListing.Union(Id, fromPipeline), ids => BpfInspector.GetBtfs(ids), b => match(b.Name));
    }
}
