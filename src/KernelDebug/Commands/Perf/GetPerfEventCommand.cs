using System.Collections;
using System.Management.Automation;
using KernelDebug.Perf;

namespace KernelDebug.Commands;

/// <summary>perf list: the events this host offers, each tested by opening it.</summary>
[Cmdlet(VerbsCommon.Get, "PerfEvent")]
[OutputType(typeof(PerfEventInfo))]
public sealed class GetPerfEventCommand : PSCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(PerfEventNameCompleter))]
    public string[]? Name { get; set; }

    [Parameter]
    public PerfEventKind[]? Type { get; set; }

    private readonly List<string> _names = new();

    protected override void ProcessRecord()
    {
        if (Name is not null) _names.AddRange(Name);
    }

    protected override void EndProcessing()
    {
        var patterns = _names.Select(n => WildcardPattern.Get(n, WildcardOptions.IgnoreCase)).ToList();
        var kinds = Type?.ToHashSet();
        var found = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        try
        {
            var specs = PerfEventList.Enumerate(k => kinds is null || kinds.Contains(k))
                .Where(s => patterns.Count == 0 || patterns.Any(p => p.IsMatch(s.Name))).ToList();
            this.ReportMounts(); // listing tracepoints may have mounted tracefs
            foreach (var info in PerfEventList.DescribeAll(specs))
            {
                found.Add(info.Name);
                WriteObject(info);
            }
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e); }

        // A literal name perf accepts but does not list (r1a8, pmu/config=1/, L1-dcache-loads:u): parse it and report it.
        foreach (var n in _names.Where(n => !WildcardPattern.ContainsWildcardCharacters(n) && !found.Contains(n)))
        {
            try
            {
                var spec = PerfEventCatalog.Parse(n);
                this.ReportMounts();
                if (kinds is null || kinds.Contains(spec.Kind)) WriteObject(PerfEventList.Describe(spec, test: true));
            }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, n); }
        }
    }
}

/// <summary>Completes perf event names: symbolic events, cache events and tracepoints.</summary>
public sealed class PerfEventNameCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(string c, string p, IDictionary b) =>
        PerfEventList.Enumerate(k => k != PerfEventKind.Pmu).Select(e => e.Name);
}
