using System.Management.Automation;
using KernelDebug.Bpf;

namespace KernelDebug.Commands;

/// <summary>Lists the loaded eBPF programs through bpf() (what bpftool prog show prints), optionally with their translated instructions.</summary>
[Cmdlet(VerbsCommon.Get, "BpfProgram")]
[OutputType(typeof(BpfProgram))]
public sealed class GetBpfProgramCommand : PSCmdlet
{
    [Parameter(Position = 0)]
    public uint[]? Id { get; set; }

    /// <summary>Program ids from the pipeline: a link's ProgramId (Get-BpfLink | Get-BpfProgram).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("ProgramIds")]
    public uint[]? ProgramId { get; set; }

    [Parameter]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(BpfProgramNameCompleter))]
    public string? Name { get; set; }

    [Parameter]
    public SwitchParameter Instructions { get; set; }

    protected override void ProcessRecord()
    {
        var match = BpfListing.Matcher(Name);
        BpfListing.Emit(this, BpfListing.Union(Id, ProgramId), ids => BpfInspector.GetPrograms(ids, Instructions), p => match(p.Name));
    }
}

/// <summary>Completes the names of loaded programs.</summary>
public sealed class BpfProgramNameCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(string c, string p, System.Collections.IDictionary b) =>
        BpfInspector.GetPrograms().Select(x => x.Name).Where(n => n.Length > 0).Distinct();
}
