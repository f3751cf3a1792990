namespace KernelDebug.Perf;

/// <summary>
/// perf diff: two reports keyed by (DSO, symbol) per event, matched by name. Baseline is the entry's percent of the
/// baseline's total period; Delta the other recording's percent minus it; Ratio and WeightedDiff as perf's -c.
/// </summary>
public static class PerfDiff
{
    private readonly record struct Key(string Event, string? Dso, string? Symbol);

    private sealed class Side
    {
        public ulong Period;
        public long Samples;
        public bool Kernel;
    }

    /// <summary>Reports as Get-PerfReport builds them (any sort keys including Dso and Symbol; other keys are summed away).</summary>
    public static List<PerfDiffEntry> Compare(IEnumerable<PerfHotspot> baseline, IEnumerable<PerfHotspot> other, PerfDiffCompute compute = PerfDiffCompute.Delta, long weight1 = 1, long weight2 = 1)
    {
        var (a, aTotals, events) = Collapse(baseline);
        var (b, bTotals, _) = Collapse(other);
        var rows = new List<PerfDiffEntry>();
        foreach (var ev in events)
        {
            // perf diff prints the baseline's events, each against the same event of the other file.
            ulong ta = aTotals[ev];
            bTotals.TryGetValue(ev, out var tb);
            var keys = a.Keys.Where(k => k.Event == ev).Concat(b.Keys.Where(k => k.Event == ev && !a.ContainsKey(k)));
            foreach (var k in keys)
            {
                a.TryGetValue(k, out var x);
                b.TryGetValue(k, out var y);
                double? pa = x is null ? null : 100.0 * x.Period / ta;
                double? pb = y is null || tb == 0 ? null : 100.0 * y.Period / tb;
                rows.Add(new PerfDiffEntry
                {
                    Event = ev, Dso = k.Dso, Symbol = k.Symbol, Kernel = (x ?? y)!.Kernel,
                    Baseline = pa, Percent = pb,
                    // As perf: the delta of an entry new in the other file is its whole percent; one gone from it has none.
                    Delta = pb is null ? null : pb - (pa ?? 0),
                    Ratio = x is null || y is null ? null : (double)y.Period / x.Period,
                    WeightedDiff = x is null || y is null ? null : (long)y.Period * weight2 - (long)x.Period * weight1,
                    BaselinePeriod = x?.Period ?? 0, Period = y?.Period ?? 0, BaselineSamples = x?.Samples ?? 0, Samples = y?.Samples ?? 0,
                    Compute = compute,
                });
            }
        }
        return Sort(rows, compute, events);
    }

    private static (Dictionary<Key, Side>, Dictionary<string, ulong>, List<string>) Collapse(IEnumerable<PerfHotspot> rows)
    {
        var map = new Dictionary<Key, Side>();
        var totals = new Dictionary<string, ulong>(StringComparer.Ordinal);
        var events = new List<string>();
        foreach (var r in rows)
        {
            var ev = r.Event ?? string.Empty;
            if (!totals.TryGetValue(ev, out var t)) events.Add(ev);
            totals[ev] = t + r.Period;
            var k = new Key(ev, r.Dso, r.Symbol);
            if (!map.TryGetValue(k, out var s)) map[k] = s = new Side { Kernel = r.Kernel };
            s.Period += r.Period;
            s.Samples += r.Samples;
        }
        return (map, totals, events);
    }

    // perf diff's order: entries of the other file by the computed column (Delta by its absolute value, as perf 6.x's
    // default "Delta Abs"), those only in the baseline after them, largest baseline first.
    private static List<PerfDiffEntry> Sort(List<PerfDiffEntry> rows, PerfDiffCompute compute, List<string> events)
    {
        var order = events.Select((e, i) => (e, i)).ToDictionary(x => x.e, x => x.i, StringComparer.Ordinal);
        double Value(PerfDiffEntry r) => compute switch
        {
            PerfDiffCompute.Ratio => r.Ratio ?? double.NegativeInfinity,
            PerfDiffCompute.WeightedDiff => r.WeightedDiff ?? double.NegativeInfinity,
            _ => Math.Abs(r.Delta ?? 0),
        };
        int Tier(PerfDiffEntry r) => r.Percent is null ? 2 : compute != PerfDiffCompute.Delta && r.Baseline is null ? 1 : 0;
        return rows.OrderBy(r => order[r.Event]).ThenBy(Tier).ThenByDescending(Value).ThenByDescending(r => r.Baseline ?? 0)
            .ThenBy(r => r.Dso, StringComparer.Ordinal).ThenBy(r => r.Symbol, StringComparer.Ordinal).ToList();
    }
}
