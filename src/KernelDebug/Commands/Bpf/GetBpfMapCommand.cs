using System.Management.Automation;
using KernelDebug.Bpf;

namespace KernelDebug.Commands;

/// <summary>Lists the kernel's eBPF maps through bpf() (what bpftool map show prints).</summary>
[Cmdlet(VerbsCommon.Get, "BpfMap")]
[OutputType(typeof(BpfMap))]
public sealed class GetBpfMapCommand : PSCmdlet
{
    [Parameter(Position = 0)]
    public uint[]? Id { get; set; }

    /// <summary>Map ids from the pipeline: a program's MapIds (Get-BpfProgram | Get-BpfMap), an entry's MapId.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("MapIds")]
    public uint[]? MapId { get; set; }

    [Parameter]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(BpfMapNameCompleter))]
    public string? Name { get; set; }

    protected override void ProcessRecord()
    {
        var match = BpfListing.Matcher(Name);
        BpfListing.Emit(this, BpfListing.Union(Id, MapId), ids => BpfInspector.GetMaps(ids), m => match(m.Name));
    }
}

/// <summary>Completes the names of the kernel's maps.</summary>
public sealed class BpfMapNameCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(string c, string p, System.Collections.IDictionary b) =>
        BpfInspector.GetMaps().Select(x => x.Name).Where(n => n.Length > 0).Distinct();
}
