using System.Collections;
using KernelDebug.Host;
using KernelDebug.Probes;

namespace KernelDebug.Commands.Probes;

internal static class CompletionSources
{
    public static IEnumerable<ProbeDefinition> AllProbes()
    {
        var t = KernelFileSystems.FindMounted("tracefs");
        if (t is null) return Enumerable.Empty<ProbeDefinition>();
        var list = new List<ProbeDefinition>();
        foreach (var f in new[] { "kprobe_events", "uprobe_events", "dynamic_events" })
        {
            var text = ControlFile.TryReadText(Path.Combine(t, f), out _);
            if (text is not null) list.AddRange(ProbeListParser.ParseList(text, f));
        }
        return list;
    }
}

/// <summary>Completes probe event names the kernel lists.</summary>
public sealed class ProbeNameCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(string c, string p, IDictionary b) => CompletionSources.AllProbes().Select(d => d.Name).Distinct();
}

/// <summary>Completes probe groups the kernel lists, and the module's default group.</summary>
public sealed class ProbeGroupCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(string c, string p, IDictionary b) =>
        CompletionSources.AllProbes().Select(d => d.Group).Append(Naming.DefaultGroup).Append(Naming.ProcessGroup).Distinct();
}

/// <summary>Completes kernel function names (text symbols of /proc/kallsyms) for kprobes and fprobes.</summary>
public sealed class KernelFunctionCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(string c, string p, IDictionary b) => KernelDebug.Symbols.Kallsyms.Current.TextSymbolNames();
}

/// <summary>Completes the function symbols of the ELF file named by -Path.</summary>
public sealed class ElfFunctionCompleter : NameCompleter
{
    protected override IEnumerable<string> Names(string c, string p, IDictionary b)
    {
        if (b["Path"] is not string path || !File.Exists(path)) return Enumerable.Empty<string>();
        return KernelDebug.Symbols.ElfFile.Open(path).Symbols.Select(s => s.Name).Distinct().ToList();
    }
}
