using System.Globalization;
using System.Text.RegularExpressions;

namespace KernelDebug.Tests.Ftrace;

/// <summary>
/// One line of the kernel's text rendering (the instance's trace file) or of trace-cmd report, and the record-by-record
/// comparison of decoded TraceRecords with those lines.
/// </summary>
public sealed record TextTraceLine(string Comm, int Pid, int Cpu, string Timestamp, string Event, string Rest, string Line)
{
    private static readonly Regex LineRx = new(
        @"^\s*(?<comm>.*)-(?<pid>\d+)\s+\[(?<cpu>\d+)\]\s+(?:(?<flags>[^\s\[]{4,6})\s+)?(?<ts>\d+\.\d+):\s+(?<event>[^:(\s]+)(?<rest>.*)$",
        RegexOptions.Compiled);

    public static List<TextTraceLine> Parse(string text, string? stripPrefix = null)
    {
        var list = new List<TextTraceLine>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw;
            if (line.Length == 0 || line.StartsWith('#')) continue;
            if (stripPrefix is not null && line.StartsWith(stripPrefix, StringComparison.Ordinal)) line = line[stripPrefix.Length..];
            var m = LineRx.Match(line);
            if (!m.Success) continue;
            list.Add(new TextTraceLine(m.Groups["comm"].Value.Trim(), int.Parse(m.Groups["pid"].Value, CultureInfo.InvariantCulture),
                int.Parse(m.Groups["cpu"].Value, CultureInfo.InvariantCulture), m.Groups["ts"].Value, m.Groups["event"].Value,
                m.Groups["rest"].Value.TrimStart(':').Trim(), raw));
        }
        return list;
    }

    /// <summary>The kernel's text names syscalls sys_openat(...) / sys_openat -> ret, and ftrace:print tracing_mark_write.</summary>
    public bool NameMatches(TraceRecord r)
    {
        if (Event == r.Name) return true;
        if (r.System == "ftrace" && r.Name == "print") return Event == "tracing_mark_write";
        if (r.System == "syscalls")
        {
            var bare = KernelDebug.Ftrace.TraceTextParser.PrintedSyscallName(r.Name);
            return Event == bare;
        }
        return false;
    }

    /// <summary>
    /// Compares the record's fields with the values printed in the line ("name=value" or "name: value"). Returns how many
    /// fields were compared; adds a message per mismatch.
    /// </summary>
    public int CompareFields(TraceRecord r, List<string> mismatches)
    {
        int compared = 0;
        foreach (var (name, value) in r.Fields)
        {
            int at = FindKey(Rest, name, out int valueStart);
            if (at < 0) continue;
            if (value is string s)
            {
                if (Rest.Length < valueStart + s.Length || string.CompareOrdinal(Rest, valueStart, s, 0, s.Length) != 0)
                    mismatches.Add($"{Line}\n  field {name}: decoded '{s}'");
                compared++;
                continue;
            }
            int end = valueStart;
            while (end < Rest.Length && Rest[end] != ' ' && Rest[end] != ',' && Rest[end] != ')') end++;
            var token = Rest[valueStart..end];
            if (!TryNumber(token, out var printed) || !TryNumber(value, out var decoded)) continue;
            // Hex prints may be the value truncated to the printed width (%08lx of an int): compare the printed bits.
            bool hex = token.StartsWith("0x", StringComparison.Ordinal);
            int bits = 4 * (token.Length - 2);
            ulong mask = bits >= 64 ? ulong.MaxValue : (1UL << bits) - 1;
            if (printed != decoded && !(hex && (decoded & mask) == printed))
                mismatches.Add($"{Line}\n  field {name}: decoded {decoded}, printed {token}");
            compared++;
        }
        // sys_exit lines print only "-> 0x3".
        int arrow = Rest.IndexOf("-> 0x", StringComparison.Ordinal);
        if (r.System == "syscalls" && arrow >= 0 && r.Fields.TryGetValue("ret", out var ret) && TryNumber(ret, out var dr))
        {
            var tok = Rest[(arrow + 3)..].Split(' ')[0];
            if (TryNumber(tok, out var pr) && pr != dr) mismatches.Add($"{Line}\n  ret: decoded {dr}, printed {tok}");
            compared++;
        }
        return compared;
    }

    private static int FindKey(string rest, string name, out int valueStart)
    {
        foreach (var sep in new[] { "=", ": " })
        {
            var key = name + sep;
            int i = 0;
            while ((i = rest.IndexOf(key, i, StringComparison.Ordinal)) >= 0)
            {
                if (i == 0 || rest[i - 1] is ' ' or ',' or '(')
                {
                    valueStart = i + key.Length;
                    return i;
                }
                i++;
            }
        }
        valueStart = -1;
        return -1;
    }

    private static bool TryNumber(object? v, out ulong n)
    {
        switch (v)
        {
            case string s when s.StartsWith("0x", StringComparison.Ordinal):
                return ulong.TryParse(s[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out n);
            case string s when long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l):
                n = (ulong)l; return true;
            case string:
                n = 0; return false;
            case bool b: n = b ? 1UL : 0; return true;
            case sbyte or short or int or long:
                n = (ulong)Convert.ToInt64(v, CultureInfo.InvariantCulture); return true;
            case byte or ushort or uint or ulong:
                n = Convert.ToUInt64(v, CultureInfo.InvariantCulture); return true;
            default:
                n = 0; return false;
        }
    }

    /// <summary>Compares records and lines one to one; returns the mismatches (empty when they agree).</summary>
    public static List<string> Compare(IReadOnlyList<TraceRecord> records, IReadOnlyList<TextTraceLine> lines, out int fieldsCompared)
    {
        var mismatches = new List<string>();
        fieldsCompared = 0;
        if (records.Count != lines.Count) mismatches.Add($"{records.Count} records decoded, {lines.Count} lines printed");
        // Records of the same timestamp may be printed in either CPU order: compare sorted by (time, cpu).
        var rs = records.OrderBy(r => (r.Timestamp + 500) / 1000).ThenBy(r => r.Cpu).ToList();
        var ls = lines.OrderBy(l => decimal.Parse(l.Timestamp, CultureInfo.InvariantCulture)).ThenBy(l => l.Cpu).ToList();
        for (int i = 0; i < Math.Min(rs.Count, ls.Count) && mismatches.Count < 20; i++)
        {
            var r = rs[i];
            var l = ls[i];
            if (r.TimestampText != l.Timestamp || r.Cpu != l.Cpu || r.ProcessId != l.Pid || !l.NameMatches(r))
            {
                mismatches.Add($"#{i}: decoded {r.Comm}-{r.ProcessId} [{r.Cpu:D3}] {r.TimestampText} {r.FullName}\n  printed {l.Line}");
                continue;
            }
            // The text pads the comm column and the parse trims it: a comm that ends in a space ("RequestBuilder ", an
            // MSBuild thread) prints the same.
            if (l.Comm != "<...>" && r.Comm?.TrimEnd() != l.Comm) mismatches.Add($"#{i}: comm decoded '{r.Comm}', printed '{l.Comm}'");
            fieldsCompared += l.CompareFields(r, mismatches);
        }
        return mismatches;
    }

    /// <summary>
    /// Compares records with lines recorded by another instance in the same run (trace-cmd extract of a twin instance):
    /// the same events in the same order on each CPU, timestamps within a tolerance (each buffer stamps its own copy).
    /// </summary>
    public static List<string> ComparePerCpu(IReadOnlyList<TraceRecord> records, IReadOnlyList<TextTraceLine> lines, ulong toleranceNs, out int fieldsCompared)
    {
        // The twin instance is a separate ring buffer: the kernel may drop an event in one buffer and not the other
        // (e.g. a nested event while that buffer is being written). A record present in only one stream is skipped,
        // a few per run at most; every record the two streams share must agree exactly.
        var mismatches = new List<string>();
        int compared = 0;
        int skipped = 0, maxSkipped = Math.Max(2, records.Count / 500);
        foreach (var cpu in records.Select(r => r.Cpu).Concat(lines.Select(l => l.Cpu)).Distinct())
        {
            var rs = records.Where(r => r.Cpu == cpu).ToList();
            var ls = lines.Where(l => l.Cpu == cpu).ToList();
            int i = 0, j = 0;
            // One step of the walk with a pairing rule: this pair, or skip one record present in only one stream.
            bool Step(Func<TraceRecord, TextTraceLine, bool> same)
            {
                if (same(rs[i], ls[j])) { compared += ls[j].CompareFields(rs[i], mismatches); i++; j++; return true; }
                if (skipped < maxSkipped && j + 1 < ls.Count && same(rs[i], ls[j + 1])) { skipped++; j++; return true; }
                if (skipped < maxSkipped && i + 1 < rs.Count && same(rs[i + 1], ls[j])) { skipped++; i++; return true; }
                return false;
            }
            while (i < rs.Count && j < ls.Count && mismatches.Count < 20)
            {
                // An event dropped from one buffer leaves the next event of the same task (a sched_stat_runtime, say)
                // within the time tolerance: pair records whose fields agree first, then records of the same event.
                if (Step((r, l) => Agree(r, l, toleranceNs)) || Step((r, l) => SameEvent(r, l, toleranceNs))) continue;
                mismatches.Add($"cpu {cpu} #{i}: decoded {rs[i].Comm}-{rs[i].ProcessId} {rs[i].TimestampText} {rs[i].FullName}\n  printed {ls[j].Line}");
                i++; j++;
            }
            skipped += (rs.Count - i) + (ls.Count - j);
        }
        if (skipped > maxSkipped) mismatches.Add($"{skipped} records are in only one of the two buffers (at most {maxSkipped} allowed)");
        fieldsCompared = compared;
        return mismatches;
    }

    private static bool Agree(TraceRecord r, TextTraceLine l, ulong toleranceNs)
    {
        if (!SameEvent(r, l, toleranceNs)) return false;
        var found = new List<string>();
        l.CompareFields(r, found);
        return found.Count == 0;
    }

    private static bool SameEvent(TraceRecord r, TextTraceLine l, ulong toleranceNs)
    {
        var printedNs = (ulong)(decimal.Parse(l.Timestamp, CultureInfo.InvariantCulture) * 1_000_000_000m);
        var diff = printedNs > r.Timestamp ? printedNs - r.Timestamp : r.Timestamp - printedNs;
        return diff <= toleranceNs && r.ProcessId == l.Pid && l.NameMatches(r);
    }
}
