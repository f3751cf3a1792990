using System.Globalization;

namespace KernelDebug.Probes;

/// <summary>Parses the kernel's probe lists (kprobe_events, uprobe_events, dynamic_events) back into definitions.</summary>
public static class ProbeListParser
{
    public static IEnumerable<ProbeDefinition> ParseList(string text, string source)
    {
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd();
            if (line.Length == 0 || line[0] == '#') continue;
            if (Parse(line, source) is { } d) yield return d;
        }
    }

    /// <summary>One listed line; null when it is not a dynamic event line.</summary>
    public static ProbeDefinition? Parse(string line, string source)
    {
        var words = ProbeValidator.Split(line);
        if (words.Length < 1) return null;
        var head = words[0];
        int colon = head.IndexOf(':');
        if (colon < 1) return null;
        var prefix = head[..colon];
        var fullName = head[(colon + 1)..];
        int slash = fullName.IndexOf('/');
        string group = slash >= 0 ? fullName[..slash] : string.Empty;
        string name = slash >= 0 ? fullName[(slash + 1)..] : fullName;
        char type = prefix[0];
        var rest = words.Skip(2).ToList();
        string place = words.Length > 1 ? words[1] : string.Empty;

        switch (type)
        {
            case 'p' or 'r':
            {
                bool isReturn = type == 'r';
                int? maxActive = prefix.Length > 1 && int.TryParse(prefix[1..], NumberStyles.None, CultureInfo.InvariantCulture, out var m) ? m : null;
                bool uprobe = source == "uprobe_events" || place.Contains('/') && place.LastIndexOf(':') > 0;
                if (uprobe) return ParseUprobe(line, source, group, name, isReturn, place, rest);
                return ParseKprobe(line, source, group, name, isReturn, maxActive, place, rest);
            }
            case 'e':
            {
                string? filter = null;
                int ifAt = rest.IndexOf("if");
                if (ifAt >= 0) { filter = string.Join(' ', rest.Skip(ifAt + 1)); rest = rest.Take(ifAt).ToList(); }
                return new ProbeDefinition
                {
                    Kind = ProbeKind.Eprobe, Group = group, Name = name, Target = place, Arguments = ItemList.Of(Args(rest)),
                    Definition = line, Filter = filter, Source = source,
                };
            }
            case 'f' or 't':
            {
                bool isReturn = place.EndsWith("%return", StringComparison.Ordinal);
                var target = isReturn ? place[..^"%return".Length] : place;
                string? module = null;
                int mc = target.IndexOf(':');
                if (mc > 0) { module = target[..mc]; }
                return new ProbeDefinition
                {
                    Kind = type == 'f' ? ProbeKind.Fprobe : ProbeKind.Tprobe, Group = group, Name = name, Target = target,
                    IsReturn = isReturn, Arguments = ItemList.Of(Args(rest)), Definition = line, Module = module, Source = source,
                };
            }
            case 's':
                return new ProbeDefinition { Kind = ProbeKind.Synthetic, Group = group.Length > 0 ? group : "synthetic", Name = name, Target = string.Join(' ', words.Skip(1)), Definition = line, Source = source };
            case 'u':
                return new ProbeDefinition { Kind = ProbeKind.UserEvent, Group = group.Length > 0 ? group : "user_events", Name = name, Target = string.Join(' ', words.Skip(1)), Definition = line, Source = source };
            default:
                return null;
        }
    }

    private static ProbeDefinition ParseUprobe(string line, string source, string group, string name, bool isReturn, string place, List<string> rest)
    {
        int colon = place.LastIndexOf(':');
        var path = place[..colon];
        var offsetText = place[(colon + 1)..];
        ulong? refCtr = null;
        int paren = offsetText.IndexOf('(');
        if (paren >= 0)
        {
            var inner = offsetText[(paren + 1)..].TrimEnd(')');
            if (KernelNumber.TryParseUnsigned(inner, 0, out var rc)) refCtr = rc;
            offsetText = offsetText[..paren];
        }
        if (offsetText.EndsWith("%return", StringComparison.Ordinal)) { isReturn = true; offsetText = offsetText[..^"%return".Length]; }
        KernelNumber.TryParseUnsigned(offsetText, 0, out var offset);
        return new ProbeDefinition
        {
            Kind = ProbeKind.Uprobe, Group = group, Name = name, Target = path, Offset = offset, IsReturn = isReturn,
            ReferenceCounterOffset = refCtr, Arguments = ItemList.Of(Args(rest)), Definition = line, Source = source,
        };
    }

    private static ProbeDefinition ParseKprobe(string line, string source, string group, string name, bool isReturn, int? maxActive, string place, List<string> rest)
    {
        string target = place;
        ulong offset = 0;
        string? module = null;
        if (target.EndsWith("%return", StringComparison.Ordinal)) { isReturn = true; target = target[..^"%return".Length]; }
        if (!KernelNumber.TryParseUnsigned(target, 0, out _))
        {
            int plus = target.IndexOf('+');
            if (plus > 0 && KernelNumber.TryParseUnsigned(target[(plus + 1)..], 0, out var o)) { offset = o; target = target[..plus]; }
            int mc = target.IndexOf(':');
            if (mc > 0) module = target[..mc];
        }
        return new ProbeDefinition
        {
            Kind = ProbeKind.Kprobe, Group = group, Name = name, Target = target, Offset = offset, IsReturn = isReturn,
            MaxActive = maxActive, Module = module, Arguments = ItemList.Of(Args(rest)), Definition = line, Source = source,
        };
    }

    private static IReadOnlyList<ProbeArgument> Args(IEnumerable<string> words) =>
        words.Select((w, i) => ProbeArgument.Parse(w, i)).ToArray();
}
