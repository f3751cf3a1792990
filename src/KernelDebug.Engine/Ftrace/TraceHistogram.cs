using System.Globalization;
using System.Text.RegularExpressions;

namespace KernelDebug.Ftrace
{
    /// <summary>
    /// Parses an event's hist file (one or more tables: "# trigger info:", a line per bucket "{ key: value, ... }
    /// hitcount: n  val: n", stacktrace keys over several lines, then "Totals:") into TraceHistograms.
    /// </summary>
    public static class TraceHistogramParser
    {
        private static readonly Regex ValuePair = new(@"(?<name>[A-Za-z_][\w.]*):\s*(?<value>\S+)", RegexOptions.Compiled | RegexOptions.CultureInvariant);
        private static readonly Regex Bracketed = new(@"^(?<text>.*?)\s*\[\s*(?<n>-?\d+)\]$", RegexOptions.Compiled);

        public static List<TraceHistogram> Parse(string text, TraceEventFormat? format = null, string? instance = null)
        {
            var tables = new List<TraceHistogram>();
            var lines = text.Split('\n');
            int i = 0;
            while (i < lines.Length)
            {
                var line = lines[i].TrimEnd('\r');
                const string info = "# trigger info: ";
                if (!line.StartsWith(info, StringComparison.Ordinal)) { i++; continue; }
                var trigger = line[info.Length..].Trim();
                bool paused = trigger.EndsWith("[paused]", StringComparison.Ordinal);
                int state = trigger.LastIndexOf(" [", StringComparison.Ordinal);
                if (state >= 0 && trigger.EndsWith(']')) trigger = trigger[..state];
                var (keyNames, modifiers, valueNames) = ParseTrigger(trigger);
                var buckets = new List<TraceHistogramBucket>();
                long? hits = null, entries = null, dropped = null;
                i++;
                while (i < lines.Length && !lines[i].StartsWith(info, StringComparison.Ordinal))
                {
                    var l = lines[i].TrimEnd('\r');
                    var t = l.Trim();
                    if (t.StartsWith('{'))
                    {
                        // A stacktrace key runs over lines up to the one starting with '}'.
                        var body = t;
                        while (!body.Contains('}') && i + 1 < lines.Length) body += "\n" + lines[++i].TrimEnd('\r');
                        var b = ParseBucket(body, keyNames, modifiers, format);
                        if (b is not null) buckets.Add(b);
                    }
                    else if (t.StartsWith("Hits:", StringComparison.Ordinal)) hits = Number(t[5..]);
                    else if (t.StartsWith("Entries:", StringComparison.Ordinal)) entries = Number(t[8..]);
                    else if (t.StartsWith("Dropped:", StringComparison.Ordinal)) dropped = Number(t[8..]);
                    i++;
                }
                tables.Add(new TraceHistogram
                {
                    Instance = instance, System = format?.System, Event = format?.Name, Trigger = trigger, Paused = paused,
                    KeyNames = keyNames, KeyModifiers = modifiers, ValueNames = valueNames, Buckets = buckets,
                    Hits = hits, Entries = entries, Dropped = dropped,
                });
            }
            return tables;
        }

        private static long? Number(string s) => long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;

        /// <summary>keys=a.mod,b:vals=hitcount,c:sort=... → key names, their modifiers, value names.</summary>
        internal static (string[] Keys, string[] Modifiers, string[] Values) ParseTrigger(string trigger)
        {
            var keys = new List<string>();
            var mods = new List<string>();
            var vals = new List<string>();
            foreach (var part in trigger.Split(' ')[0].Split(':'))
            {
                int eq = part.IndexOf('=');
                if (eq < 0) continue;
                var name = part[..eq];
                var list = part[(eq + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries);
                if (name is "keys" or "key")
                    foreach (var k in list)
                    {
                        int dot = k.IndexOf('.');
                        keys.Add(dot < 0 ? k : k[..dot]);
                        mods.Add(dot < 0 ? "" : k[(dot + 1)..]);
                    }
                else if (name is "vals" or "values" or "val")
                    foreach (var v in list) vals.Add(v.Split('.')[0]);
            }
            return (keys.ToArray(), mods.ToArray(), vals.ToArray());
        }

        private static TraceHistogramBucket? ParseBucket(string body, string[] keyNames, string[] modifiers, TraceEventFormat? format)
        {
            int close = body.LastIndexOf('}');
            if (close < 0) return null;
            var keyText = body[1..close].Trim();
            var valueText = body[(close + 1)..];
            var keyValues = new object?[keyNames.Length];
            var labels = new List<(string, object?)>();
            string[]? stack = null;
            int pos = 0;
            for (int k = 0; k < keyNames.Length; k++)
            {
                var name = keyNames[k];
                var head = name + ":";
                int at = keyText.IndexOf(head, pos, StringComparison.Ordinal);
                if (at < 0) return null;
                int start = at + head.Length;
                int end = keyText.Length;
                if (k + 1 < keyNames.Length)
                {
                    int next = keyText.IndexOf(", " + keyNames[k + 1] + ":", start, StringComparison.Ordinal);
                    if (next >= 0) end = next;
                }
                var raw = keyText[start..end];
                pos = end;
                if (name == "stacktrace")
                {
                    stack = raw.Split('\n').Select(s => s.Trim()).Where(s => s.Length > 0).ToArray();
                    keyValues[k] = stack;
                    continue;
                }
                var (value, label) = KeyValue(raw.Trim(), modifiers[k], Field(format, name));
                keyValues[k] = value;
                if (label is not null) labels.Add((name, label));
            }
            var valueNames = new List<string>();
            var values = new List<object?>();
            ulong hitcount = 0;
            foreach (Match m in ValuePair.Matches(valueText))
            {
                var v = ValueNumber(m.Groups["value"].Value);
                valueNames.Add(m.Groups["name"].Value);
                values.Add(v);
                if (m.Groups["name"].Value == "hitcount" && v is ulong h) hitcount = h;
            }
            return new TraceHistogramBucket
            {
                Keys = new TraceFieldValues(keyNames, keyValues),
                Labels = new TraceFieldValues(labels.Select(l => l.Item1).ToArray(), labels.Select(l => l.Item2).ToArray()),
                Values = new TraceFieldValues(valueNames.ToArray(), values.ToArray()),
                HitCount = hitcount,
                StackTrace = stack is null ? null : (ItemList<string>)stack,
            };
        }

        private static TraceEventField? Field(TraceEventFormat? format, string name) =>
            format?.AllFields.FirstOrDefault(f => f.Name == name);

        private static object? ValueNumber(string s)
        {
            if (s.StartsWith("0x", StringComparison.Ordinal) && ulong.TryParse(s.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var h)) return h;
            if (ulong.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var u)) return u;
            if (long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l)) return l;
            return s;
        }

        /// <summary>A key's typed value and the label printed with it, by the key's modifier.</summary>
        private static (object? Value, string? Label) KeyValue(string raw, string modifier, TraceEventField? field)
        {
            switch (modifier)
            {
                case "execname":
                case "syscall":
                {
                    // "sh              [       105]": the comm (or syscall name), then the number in brackets.
                    var m = Bracketed.Match(raw);
                    if (!m.Success) return (raw, null);
                    long n = long.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture);
                    // common_pid is an int in every event; without the format the pid is still typed as one.
                    object value = field is null && modifier == "execname" ? (int)n : Typed(n, field);
                    return (value, m.Groups["text"].Value.Trim());
                }
                case "sym":
                case "sym-offset":
                {
                    // "[ffffffff810adcb9] syslog_print_all": the address, then the symbol (and module).
                    int close = raw.IndexOf(']');
                    if (!raw.StartsWith('[') || close < 0) return (raw, null);
                    ulong.TryParse(raw.AsSpan(1, close - 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var addr);
                    return (addr, raw[(close + 1)..].Trim());
                }
                case "hex":
                    return (ulong.TryParse(raw.StartsWith("0x", StringComparison.Ordinal) ? raw[2..] : raw, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var hx) ? Typed(hx, field) : raw, null);
                case "log2":
                {
                    // "~ 2^10": the bucket of values up to 2^10.
                    int caret = raw.IndexOf('^');
                    if (caret >= 0 && int.TryParse(raw.AsSpan(caret + 1).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int p) && p is >= 0 and < 64)
                        return (1UL << p, raw);
                    return (raw, null);
                }
                default:
                    if (modifier.StartsWith("buckets", StringComparison.Ordinal))
                    {
                        // "~ 1400-1499": the lower bound of the bucket.
                        var r = raw.TrimStart('~', ' ');
                        int dash = r.IndexOf('-');
                        if (dash > 0 && ulong.TryParse(r.AsSpan(0, dash), NumberStyles.Integer, CultureInfo.InvariantCulture, out var lo)) return (Typed(lo, field), raw);
                        return (raw, null);
                    }
                    if (field is { IsString: true } || (field is null && !IsNumber(raw))) return (raw, null);
                    if (ulong.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var u)) return (Typed(u, field), null);
                    if (long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var s)) return (Typed(unchecked((ulong)s), field), null);
                    return (raw, null);
            }
        }

        private static bool IsNumber(string s) => s.Length > 0 && (char.IsDigit(s[0]) || (s[0] == '-' && s.Length > 1 && char.IsDigit(s[1])));

        private static object Typed(long v, TraceEventField? field) => Typed(unchecked((ulong)v), field);

        /// <summary>The value as the event field's C type holds it (int for pid_t, ulong for an address...).</summary>
        private static object Typed(ulong v, TraceEventField? field)
        {
            if (field is null || field.Kind != TraceFieldKind.Scalar) return v;
            return (field.Size, field.Signed) switch
            {
                (1, true) => (sbyte)v,
                (1, false) => (byte)v,
                (2, true) => (short)v,
                (2, false) => (ushort)v,
                (4, true) => (int)v,
                (4, false) => (uint)v,
                (8, true) => (long)v,
                _ => v,
            };
        }
    }
}
