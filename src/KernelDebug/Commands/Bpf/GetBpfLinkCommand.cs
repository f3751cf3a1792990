using System.Management.Automation;
using KernelDebug.Bpf;

namespace KernelDebug.Commands;

/// <summary>Lists BPF links through bpf() with what each attaches to (what bpftool link show prints).</summary>
[Cmdlet(VerbsCommon.Get, "BpfLink")]
[OutputType(typeof(BpfLink))]
public sealed class GetBpfLinkCommand : PSCmdlet
{
    [Parameter(Position = 0)]
    public uint[]? Id { get; set; }

    /// <summary>Only links of these types (raw_tracepoint, tracing, cgroup, perf_event…).</summary>
    [Parameter]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(BpfLinkTypeCompleter))]
    public string[]? Type { get; set; }

    protected override void ProcessRecord()
    {
        var patterns = Type?.Select(t => WildcardPattern.Get(t, WildcardOptions.IgnoreCase)).ToArray();
        BpfListing.Emit(this, Id, ids => BpfInspector.GetLinks(ids), l => patterns is null || patterns.Any(p => p.IsMatch(l.Type)));
    }
}

/// <summary>Completes BPF link type names.</summary>
public sealed class BpfLinkTypeCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(string c, string p, System.Collections.IDictionary b) => BpfNames.LinkTypes.Skip(1);
}
