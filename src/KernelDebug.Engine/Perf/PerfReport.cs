using KernelDebug.Perf;

namespace KernelDebug.Perf
{
    public enum PerfSortKey { Comm, Dso, Symbol }

    /// <summary>Builds perf report's histogram: per event (one table each, as perf report), entries keyed by the chosen sort keys, weighted by sample period.</summary>
    public static class PerfReportBuilder
    {
        private readonly record struct Key(string Event, string? Comm, string? Dso, string? Symbol, bool Kernel);

        private sealed class Bucket
        {
            public ulong SelfPeriod, ChildrenPeriod;
            public long Samples;
        }

        public static List<PerfHotspot> Build(IEnumerable<PerfSample> samples, IReadOnlyCollection<PerfSortKey> keys, bool children)
        {
            bool byComm = keys.Contains(PerfSortKey.Comm), byDso = keys.Contains(PerfSortKey.Dso), bySym = keys.Contains(PerfSortKey.Symbol);
            // An address without a symbol is an entry of its own, named by its address as perf report shows it.
            Key KeyOf(string ev, string comm, string dso, string sym, ulong offset, bool kernel) =>
                new(ev, byComm ? comm : null, byDso ? dso : null, bySym ? (sym == "[unknown]" ? $"0x{offset:x16}" : sym) : null, bySym && kernel);
            var buckets = new Dictionary<Key, Bucket>();
            var seen = new HashSet<Key>();
            // Each event's total, and the order in which the events first appear (perf report's order of tables).
            var totals = new Dictionary<string, ulong>();
            var order = new Dictionary<string, int>();
            foreach (var s in samples)
            {
                ulong period = s.Period == 0 ? 1 : s.Period;
                string ev = s.Event ?? string.Empty;
                if (!totals.TryGetValue(ev, out var t)) order[ev] = order.Count;
                totals[ev] = t + period;
                bool kernelTop = s.CallChain.Length > 0 ? s.CallChain[0].Kernel : s.Ip >= 0xffff800000000000;
                var top = KeyOf(ev, s.Comm, s.Dso, s.Symbol, s.Offset, kernelTop);
                var b = Get(buckets, top);
                b.SelfPeriod += period;
                b.Samples++;
                if (!children) continue;
                seen.Clear();
                if (s.CallChain.Length == 0) seen.Add(top);
                foreach (var f in s.CallChain) seen.Add(KeyOf(ev, s.Comm, f.Dso, f.Symbol, f.Offset, f.Kernel));
                foreach (var k in seen) Get(buckets, k).ChildrenPeriod += period;
            }
            if (totals.Count == 0) return new List<PerfHotspot>();
            var rows = buckets.Select(kv => new PerfHotspot
            {
                Event = kv.Key.Event, Comm = kv.Key.Comm, Dso = kv.Key.Dso, Symbol = kv.Key.Symbol, Kernel = kv.Key.Kernel,
                Samples = kv.Value.Samples, Period = kv.Value.SelfPeriod,
                Overhead = 100.0 * kv.Value.SelfPeriod / totals[kv.Key.Event],
                Children = 100.0 * (children ? kv.Value.ChildrenPeriod : kv.Value.SelfPeriod) / totals[kv.Key.Event],
            }).OrderBy(r => order[r.Event!]);
            return (children ? rows.ThenByDescending(r => r.Children).ThenByDescending(r => r.Overhead) : rows.ThenByDescending(r => r.Overhead))
                .ThenBy(r => r.Comm, StringComparer.Ordinal).ThenBy(r => r.Dso, StringComparer.Ordinal).ThenBy(r => r.Symbol, StringComparer.Ordinal).ToList();
        }

        private static Bucket Get(Dictionary<Key, Bucket> buckets, Key k)
        {
            if (!buckets.TryGetValue(k, out var b)) buckets[k] = b = new Bucket();
            return b;
        }
    }
}
