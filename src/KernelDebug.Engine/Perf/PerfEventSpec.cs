using System.Globalization;
using System.Management.Automation;
using System.Text.RegularExpressions;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Perf;

/// <summary>The event families of perf list.</summary>
public enum PerfEventKind { Hardware, Software, Cache, Tracepoint, Raw, Pmu }

/// <summary>An event name as perf spells it, resolved to the perf_event_attr fields that select it.</summary>
public sealed class PerfEventSpec
{
    public required string Name { get; init; }
    public required PerfEventKind Kind { get; init; }
    public required uint TypeId { get; init; }
    public ulong Config { get; init; }
    public ulong Config1 { get; init; }
    public ulong Config2 { get; init; }
    public ulong Config3 { get; init; }
    public bool ExcludeUser { get; init; }
    public bool ExcludeKernel { get; init; }
    public bool ExcludeHv { get; init; }
    public int PreciseIp { get; init; }
    public string Description { get; init; } = string.Empty;

    /// <summary>Software clocks count nanoseconds; perf shows them as msec.</summary>
    public bool IsClock => Kind == PerfEventKind.Software && Config is 0 or 1;

    public string Unit => IsClock ? "ns" : string.Empty;

    /// <summary>
    /// The same event counted in user space only (exclude_kernel, exclude_hv), named "name:u" as perf names it: what perf
    /// falls back to when perf_event_paranoid (2 and up) refuses kernel counting to an unprivileged user.
    /// </summary>
    public PerfEventSpec UserOnly() => new()
    {
        Name = Name.Contains(':') ? Name : Name + ":u", Kind = Kind, TypeId = TypeId, Config = Config, Config1 = Config1, Config2 = Config2,
        Config3 = Config3, ExcludeUser = false, ExcludeKernel = true, ExcludeHv = true, PreciseIp = PreciseIp, Description = Description,
    };

    /// <summary>A perf_event_attr for this event, with the modifiers applied.</summary>
    public PerfEventAttr ToAttr(PerfAttrFlags flags = 0)
    {
        if (ExcludeUser) flags |= PerfAttrFlags.ExcludeUser;
        if (ExcludeKernel) flags |= PerfAttrFlags.ExcludeKernel;
        if (ExcludeHv) flags |= PerfAttrFlags.ExcludeHv;
        ulong bits = (ulong)flags | ((ulong)(PreciseIp & 3) << 15);
        return new PerfEventAttr
        {
            Type = TypeId, Size = PerfEventAttr.SizeVer8, Config = Config, Config1 = Config1, Config2 = Config2, Config3 = Config3, Flags = bits,
        };
    }

    public override string ToString() => Name;
}

/// <summary>Parses and lists perf event names: the symbolic hardware, software and cache events, tracepoints, r&lt;hex&gt; and pmu/terms/.</summary>
public static class PerfEventCatalog
{
    internal sealed record Symbolic(string Name, string[] Aliases, ulong Config, string Description);

    internal static readonly Symbolic[] HardwareEvents =
    {
        new("cpu-cycles", new[] { "cycles" }, 0, "CPU cycles"),
        new("instructions", Array.Empty<string>(), 1, "Retired instructions"),
        new("cache-references", Array.Empty<string>(), 2, "Cache accesses (usually last-level cache)"),
        new("cache-misses", Array.Empty<string>(), 3, "Cache misses (usually last-level cache)"),
        new("branch-instructions", new[] { "branches" }, 4, "Retired branch instructions"),
        new("branch-misses", Array.Empty<string>(), 5, "Mispredicted branches"),
        new("bus-cycles", Array.Empty<string>(), 6, "Bus cycles"),
        new("stalled-cycles-frontend", new[] { "idle-cycles-frontend" }, 7, "Stalled cycles during issue"),
        new("stalled-cycles-backend", new[] { "idle-cycles-backend" }, 8, "Stalled cycles during retirement"),
        new("ref-cycles", Array.Empty<string>(), 9, "Reference cycles, not affected by CPU frequency scaling"),
    };

    internal static readonly Symbolic[] SoftwareEvents =
    {
        new("cpu-clock", Array.Empty<string>(), 0, "CPU clock, a high-resolution per-CPU timer (ns)"),
        new("task-clock", Array.Empty<string>(), 1, "Clock time spent by the task on a CPU (ns)"),
        new("page-faults", new[] { "faults" }, 2, "Page faults"),
        new("context-switches", new[] { "cs" }, 3, "Context switches"),
        new("cpu-migrations", new[] { "migrations" }, 4, "Migrations of the task to another CPU"),
        new("minor-faults", Array.Empty<string>(), 5, "Page faults served without I/O"),
        new("major-faults", Array.Empty<string>(), 6, "Page faults that needed I/O"),
        new("alignment-faults", Array.Empty<string>(), 7, "Alignment faults fixed up by the kernel"),
        new("emulation-faults", Array.Empty<string>(), 8, "Instructions emulated by the kernel"),
        new("dummy", Array.Empty<string>(), 9, "Counts nothing; carries side-band records"),
        new("bpf-output", Array.Empty<string>(), 10, "Output of BPF programs"),
        new("cgroup-switches", Array.Empty<string>(), 11, "Context switches to a task in a different cgroup"),
    };

    // The hardware cache table: cache ids, operations, results, and which (cache, op) pairs perf lists.
    private static readonly (string Name, string[] Aliases)[] Caches =
    {
        ("L1-dcache", new[] { "l1-d", "l1d", "l1-data" }), ("L1-icache", new[] { "l1-i", "l1i", "l1-instruction" }),
        ("LLC", new[] { "l2" }), ("dTLB", new[] { "d-tlb", "data-tlb" }), ("iTLB", new[] { "i-tlb", "instruction-tlb" }),
        ("branch", new[] { "branches", "bpu", "btb", "bpc" }), ("node", Array.Empty<string>()),
    };
    private static readonly (string Name, string[] Aliases)[] CacheOps =
    {
        ("load", new[] { "loads", "read" }), ("store", new[] { "stores", "write" }), ("prefetch", new[] { "prefetches", "speculative-read", "speculative-load" }),
    };
    private static readonly (string Name, string[] Aliases)[] CacheResults =
    {
        ("refs", new[] { "access", "accesses", "references", "ops" }), ("misses", new[] { "miss" }),
    };
    private static readonly bool[,] CacheOpValid =
    {
        { true, true, true }, { true, false, true }, { true, true, true }, { true, true, true },
        { true, false, false }, { true, false, false }, { true, true, true },
    };

    private static readonly Regex ModifierPattern = new("^[ukhGHpPSDIWe]+$", RegexOptions.Compiled);

    /// <summary>Parses one event as perf spells it; throws a KernelDebugException (PerfEventNotFound / InvalidPerfEvent) otherwise.</summary>
    public static PerfEventSpec Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
            throw Invalid(text ?? string.Empty, "an event name is empty");
        text = UserInput.EnsureSingleLine(text.Trim(), "Event");

        // pmu/terms/modifiers
        int slash = text.IndexOf('/');
        if (slash > 0)
        {
            int end = text.LastIndexOf('/');
            if (end == slash) throw Invalid(text, "a PMU event is written pmu/term=value,.../ with a closing '/'");
            string mods = text[(end + 1)..].TrimStart(':');
            var spec = ParsePmu(text, text[..slash], text[(slash + 1)..end]);
            return ApplyModifiers(spec, mods, text);
        }

        var parts = text.Split(':');
        string baseName = parts[0];
        string modifiers = string.Empty;
        if (parts.Length == 3) { baseName = parts[0] + ":" + parts[1]; modifiers = parts[2]; }
        else if (parts.Length == 2)
        {
            if (TryParseSymbolic(parts[0], text) is not null) modifiers = parts[1];
            else baseName = text;
        }
        else if (parts.Length > 3) throw Invalid(text, "too many ':' in the event name");

        var result = TryParseSymbolic(baseName, text) ?? (baseName.Contains(':') ? ParseTracepoint(baseName, text) : null);
        if (result is null)
            throw new KernelDebugException($"Unknown perf event '{text}'. Use Get-PerfEvent to list the events this host offers (names as perf list spells them, r<hex>, pmu/config=.../, group:tracepoint).",
                "PerfEventNotFound", ErrorCategory.ObjectNotFound);
        return ApplyModifiers(result, modifiers, text);
    }

    private static KernelDebugException Invalid(string text, string why) =>
        new($"Invalid perf event '{text}': {why}.", "InvalidPerfEvent", ErrorCategory.InvalidArgument);

    private static PerfEventSpec? TryParseSymbolic(string name, string original)
    {
        foreach (var e in HardwareEvents)
            if (Matches(e, name)) return new PerfEventSpec { Name = original, Kind = PerfEventKind.Hardware, TypeId = (uint)PerfTypeId.Hardware, Config = e.Config, Description = e.Description };
        foreach (var e in SoftwareEvents)
            if (Matches(e, name)) return new PerfEventSpec { Name = original, Kind = PerfEventKind.Software, TypeId = (uint)PerfTypeId.Software, Config = e.Config, Description = e.Description };
        if (name.Length > 1 && (name[0] == 'r') && ulong.TryParse(name.AsSpan(1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var raw))
            return new PerfEventSpec { Name = original, Kind = PerfEventKind.Raw, TypeId = (uint)PerfTypeId.Raw, Config = raw, Description = "Raw PMU event" };
        return TryParseCache(name, original);
    }

    private static bool Matches(Symbolic e, string name) =>
        string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase) || e.Aliases.Any(a => string.Equals(a, name, StringComparison.OrdinalIgnoreCase));

    private static int IndexOfName((string Name, string[] Aliases)[] table, string word)
    {
        for (int i = 0; i < table.Length; i++)
            if (string.Equals(table[i].Name, word, StringComparison.OrdinalIgnoreCase) || table[i].Aliases.Any(a => string.Equals(a, word, StringComparison.OrdinalIgnoreCase)))
                return i;
        return -1;
    }

    private static PerfEventSpec? TryParseCache(string name, string original)
    {
        // <cache>[-<op>][-<result>], where cache names themselves contain '-': try every split.
        for (int i = 0; i < Caches.Length; i++)
        {
            foreach (var cacheName in Caches[i].Aliases.Prepend(Caches[i].Name))
            {
                if (!name.StartsWith(cacheName, StringComparison.OrdinalIgnoreCase)) continue;
                string rest = name[cacheName.Length..];
                if (rest.Length > 0 && rest[0] != '-') continue;
                var words = rest.Split('-', StringSplitOptions.RemoveEmptyEntries);
                int op = 0, res = 0;
                bool opSeen = false, resSeen = false, ok = words.Length <= 2;
                foreach (var w in words)
                {
                    int o = IndexOfName(CacheOps, w), r = IndexOfName(CacheResults, w);
                    if (o >= 0 && !opSeen) { op = o; opSeen = true; }
                    else if (r >= 0 && !resSeen) { res = r; resSeen = true; }
                    else ok = false;
                }
                if (!ok) continue;
                if (!CacheOpValid[i, op])
                    throw Invalid(original, $"the {Caches[i].Name} cache has no {CacheOps[op].Name} operation");
                return new PerfEventSpec
                {
                    Name = original, Kind = PerfEventKind.Cache, TypeId = (uint)PerfTypeId.HwCache,
                    Config = (uint)i | ((ulong)(uint)op << 8) | ((ulong)(uint)res << 16), Description = "Hardware cache event",
                };
            }
        }
        return null;
    }

    /// <summary>The symbolic cache event names perf list shows.</summary>
    internal static IEnumerable<(string Name, ulong Config)> CacheEventNames()
    {
        for (int i = 0; i < Caches.Length; i++)
            for (int op = 0; op < CacheOps.Length; op++)
            {
                if (!CacheOpValid[i, op]) continue;
                string opName = CacheOps[op].Name;
                yield return ($"{Caches[i].Name}-{opName}s", (uint)i | ((ulong)op << 8));
                yield return ($"{Caches[i].Name}-{opName}-misses", (uint)i | ((ulong)op << 8) | (1UL << 16));
            }
    }

    internal static string? TracingEventsDir()
    {
        try { return Path.Combine(KernelFileSystems.GetTraceFs(), "events"); }
        catch (KernelDebugException) { return null; }
    }

    private static PerfEventSpec ParseTracepoint(string name, string original)
    {
        var dir = TracingEventsDir()
            ?? throw new KernelDebugException($"Tracepoint '{name}' needs tracefs, which is not mounted or not readable.", "TraceFsMissing", ErrorCategory.ResourceUnavailable)
            { Remedy = "Run as root, or mount it: mount -t tracefs nodev /sys/kernel/tracing" };
        var p = name.Split(':');
        if (p.Any(s => s.Length == 0 || s.Contains("..") || s.IndexOfAny(new[] { '/', '\\' }) >= 0)) throw Invalid(original, "a tracepoint is written group:name");
        var idFile = Path.Combine(dir, p[0], p[1], "id");
        var text = ControlFile.TryReadText(idFile, out var errno);
        if (text is null)
        {
            if (errno is Errno.ENOENT or Errno.ENOTDIR)
                throw new KernelDebugException($"Unknown perf event '{original}': there is no tracepoint {p[0]}:{p[1]} in {dir}. Get-PerfEvent -Type Tracepoint lists them.", "PerfEventNotFound", ErrorCategory.ObjectNotFound);
            throw new KernelDebugException(errno, "read", idFile);
        }
        return new PerfEventSpec
        {
            Name = original, Kind = PerfEventKind.Tracepoint, TypeId = (uint)PerfTypeId.Tracepoint,
            Config = ulong.Parse(text.Trim(), CultureInfo.InvariantCulture), Description = "Tracepoint event",
        };
    }

    internal const string PmuRoot = "/sys/bus/event_source/devices";

    private static PerfEventSpec ParsePmu(string original, string pmu, string terms)
    {
        if (pmu.Contains("..") || pmu.Contains('\\')) throw Invalid(original, "bad PMU name");
        var dir = Path.Combine(PmuRoot, pmu);
        var typeText = ControlFile.TryReadText(Path.Combine(dir, "type"), out _);
        if (typeText is null)
            throw new KernelDebugException($"Unknown perf event '{original}': there is no PMU '{pmu}' in {PmuRoot} (this host has: {string.Join(", ", PmuNames())}).",
                "PerfEventNotFound", ErrorCategory.ObjectNotFound);
        var config = new ulong[4];
        ApplyTerms(original, dir, terms, config, depth: 0);
        uint type = uint.Parse(typeText.Trim(), CultureInfo.InvariantCulture);
        return new PerfEventSpec
        {
            Name = original, Kind = type == (uint)PerfTypeId.Raw ? PerfEventKind.Raw : PerfEventKind.Pmu, TypeId = type,
            Config = config[0], Config1 = config[1], Config2 = config[2], Config3 = config[3], Description = $"{pmu} PMU event",
        };
    }

    internal static IEnumerable<string> PmuNames()
    {
        try { return Directory.GetDirectories(PmuRoot).Select(Path.GetFileName).OfType<string>().OrderBy(n => n, StringComparer.Ordinal).ToList(); }
        catch (IOException) { return Array.Empty<string>(); }
        catch (UnauthorizedAccessException) { return Array.Empty<string>(); }
    }

    private static void ApplyTerms(string original, string pmuDir, string terms, ulong[] config, int depth)
    {
        if (depth > 2) throw Invalid(original, "event aliases nest too deeply");
        foreach (var raw in terms.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = raw.IndexOf('=');
            string term = eq < 0 ? raw : raw[..eq].Trim();
            ulong value = 1;
            if (eq >= 0)
            {
                var v = raw[(eq + 1)..].Trim();
                bool ok = v.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                    ? ulong.TryParse(v.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out value)
                    : ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out value);
                if (!ok) throw Invalid(original, $"'{v}' is not a number (decimal or 0x hex) in term '{raw}'");
            }
            if (term.IndexOfAny(new[] { '/', '.' }) >= 0) throw Invalid(original, $"bad term '{term}'");
            switch (term)
            {
                case "config": config[0] = value; continue;
                case "config1": config[1] = value; continue;
                case "config2": config[2] = value; continue;
                case "config3": config[3] = value; continue;
            }
            var format = ControlFile.TryReadText(Path.Combine(pmuDir, "format", term), out _);
            if (format is not null) { ApplyFormat(original, term, format.Trim(), value, config); continue; }
            var alias = eq < 0 ? ControlFile.TryReadText(Path.Combine(pmuDir, "events", term), out _) : null;
            if (alias is not null) { ApplyTerms(original, pmuDir, alias.Trim(), config, depth + 1); continue; }
            var known = ListDir(Path.Combine(pmuDir, "format")).Concat(ListDir(Path.Combine(pmuDir, "events")));
            throw Invalid(original, $"the PMU has no format term or event '{term}' (known: config, config1, config2, config3{string.Concat(known.Select(k => ", " + k))})");
        }
    }

    private static IEnumerable<string> ListDir(string dir)
    {
        try { return Directory.Exists(dir) ? Directory.GetFiles(dir).Select(Path.GetFileName).OfType<string>().OrderBy(n => n, StringComparer.Ordinal).ToList() : Enumerable.Empty<string>(); }
        catch (IOException) { return Enumerable.Empty<string>(); }
        catch (UnauthorizedAccessException) { return Enumerable.Empty<string>(); }
    }

    /// <summary>Places a value in the config word bits a PMU format file names ("config:0-7,21" or "config1:0-63").</summary>
    internal static void ApplyFormat(string original, string term, string format, ulong value, ulong[] config)
    {
        int colon = format.IndexOf(':');
        if (colon < 0) throw Invalid(original, $"unreadable format '{format}' for term '{term}'");
        int word = format[..colon] switch { "config" => 0, "config1" => 1, "config2" => 2, "config3" => 3, _ => -1 };
        if (word < 0) throw Invalid(original, $"unreadable format '{format}' for term '{term}'");
        int bit = 0;
        foreach (var range in format[(colon + 1)..].Split(','))
        {
            var ends = range.Split('-');
            int lo = int.Parse(ends[0], CultureInfo.InvariantCulture), hi = ends.Length > 1 ? int.Parse(ends[1], CultureInfo.InvariantCulture) : lo;
            for (int b = lo; b <= hi; b++, bit++)
                if (((value >> bit) & 1) != 0) config[word] |= 1UL << b;
        }
        if (bit < 64 && (value >> bit) != 0) throw Invalid(original, $"value {value} of term '{term}' does not fit its {bit} bits");
    }

    private static PerfEventSpec ApplyModifiers(PerfEventSpec spec, string modifiers, string original)
    {
        if (modifiers.Length == 0) return spec;
        if (!ModifierPattern.IsMatch(modifiers)) throw Invalid(original, $"unknown modifier '{modifiers}' (u user, k kernel, h hypervisor, p precise)");
        bool u = modifiers.Contains('u'), k = modifiers.Contains('k'), h = modifiers.Contains('h');
        int precise = modifiers.Count(c => c == 'p');
        if (precise > 3) throw Invalid(original, "at most 3 'p' modifiers");
        bool any = u || k || h;
        return new PerfEventSpec
        {
            Name = spec.Name, Kind = spec.Kind, TypeId = spec.TypeId, Config = spec.Config, Config1 = spec.Config1, Config2 = spec.Config2, Config3 = spec.Config3,
            Description = spec.Description, PreciseIp = precise,
            ExcludeUser = any && !u, ExcludeKernel = any && !k, ExcludeHv = any && !h,
        };
    }
}
