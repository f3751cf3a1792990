using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace KernelDebug.Memory;

/// <summary>
/// Reads saved kernel logs: dmesg output with or without [timestamps], dmesg -r (&lt;N&gt; priority prefixes),
/// dmesg -x (facility:level names), dmesg -T (ctime stamps), --time-format iso, dmesg -d (deltas), dmesg -e (reltime, stripped), caller ids ([T123], [C1]) as dmesg or the console print
/// them, serial console logs (the same prefixes), plain report text, and raw /dev/kmsg records (cat /dev/kmsg).
/// </summary>
public static class DmesgTextParser
{
    // 6,343,1433437,-;message   (cat /dev/kmsg)
    private static readonly Regex KmsgLine = new(@"^\d+,\d+,\d+,[^;]*;", RegexOptions.Compiled);
    // kern  :info  : [    1.433437] …  (dmesg -x)
    private static readonly Regex DecodePrefix = new(@"^(?<fac>[a-z0-9]+)\s*:(?<lvl>[a-z]+)\s*: ", RegexOptions.Compiled);
    private static readonly Regex PriorityPrefix = new(@"^<(?<pri>\d{1,3})>", RegexOptions.Compiled);
    // [    1.433437] and, with dmesg -d, [    1.433437 <    0.000012>]
    private static readonly Regex TimePrefix = new(@"^\[\s*(?<ts>\d+\.\d+)(?: <\s*\d+\.\d+>)?\]", RegexOptions.Compiled);
    // 2026-11-25T21:12:55,421071+00:00  (dmesg --time-format iso)
    private static readonly Regex IsoPrefix = new(@"^(?<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d{6}[+-]\d\d:\d\d)(?= |$)", RegexOptions.Compiled);
    // [Nov25 21:12], [Dec 7 03:28] (a day below 10 is space-padded) or [  +0.002229]  (dmesg -e / --time-format reltime): no absolute time to take from it.
    private static readonly Regex RelTimePrefix = new(@"^\[(?:[A-Z][a-z]{2} ?\d{1,2} \d\d:\d\d|\s*\+\d+\.\d+)\]", RegexOptions.Compiled);
    // [Wed Nov 25 21:00:00 2026]  (dmesg -T)
    private static readonly Regex CtimePrefix = new(@"^\[(?<ct>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4})\]", RegexOptions.Compiled);
    // [  T123] (dmesg) or [T123] / [    T1] right after the time (console).
    private static readonly Regex CallerPrefix = new(@"^ ?\[\s*(?<caller>[TC]\d+)\]", RegexOptions.Compiled);

    // The console's note that it skipped records, glued in front of the next record's line: "** 93 printk messages dropped ** [  322.96] …".
    private static readonly Regex DroppedPrefix = new(@"^\*\* \d+ printk messages dropped \*\* ?", RegexOptions.Compiled);

    private static readonly string[] LevelNames = { "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug" };
    private static readonly string[] FacilityNames =
    {
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
        "res0", "res1", "res2", "res3", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
    };

    /// <summary>Parses a saved log file.</summary>
    public static IEnumerable<KernelLogEntry> ParseFile(string path, DateTime? bootTimeUtc = null)
    {
        using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        foreach (var e in Parse(ReadLines(reader), bootTimeUtc, path)) yield return e;
    }

    private static IEnumerable<string> ReadLines(TextReader reader)
    {
        string? line;
        while ((line = reader.ReadLine()) is not null) yield return line;
    }

    /// <summary>Parses lines of a saved log. An indented line without any prefix after a prefixed one continues that record (multi-line messages, as dmesg prints them).</summary>
    public static IEnumerable<KernelLogEntry> Parse(IEnumerable<string> lines, DateTime? bootTimeUtc = null, string? source = null)
    {
        Pending? pending = null;
        int lineNumber = 0;
        foreach (var raw in lines)
        {
            lineNumber++;
            var line = raw.TrimEnd('\r');
            if (DroppedPrefix.Match(line) is { Success: true } dropped) line = line[dropped.Length..];
            if (KmsgLine.IsMatch(line))
            {
                if (pending is not null) yield return pending.Build(bootTimeUtc, source);
                pending = Pending.FromKmsg(line, lineNumber);
                continue;
            }
            if (pending is { Kmsg: true } && line.Length > 1 && line[0] == ' ' && line.IndexOf('=') > 1 && !line.StartsWith("  ", StringComparison.Ordinal))
            {
                pending.KmsgText.Append('\n').Append(line);
                continue;
            }

            var parsed = ParsePrefixed(line, lineNumber);
            if (parsed is null)
            {
                // Only an indented line continues the record: a console also carries unprefixed text of user space (a fuzzer's log).
                if (pending is { Prefixed: true } && line.Length > 0 && line[0] == ' ')
                {
                    // dmesg indents the further lines of a record to the width of the first line's prefix.
                    int strip = 0;
                    while (strip < pending.PrefixWidth && strip < line.Length && line[strip] == ' ') strip++;
                    pending.Message.Append('\n').Append(line, strip, line.Length - strip);
                    continue;
                }
                parsed = new Pending { Message = new StringBuilder(line), LineNumber = lineNumber };
            }
            if (pending is not null) yield return pending.Build(bootTimeUtc, source);
            pending = parsed;
        }
        if (pending is not null) yield return pending.Build(bootTimeUtc, source);
    }

    private static Pending? ParsePrefixed(string line, int lineNumber)
    {
        var p = new Pending { LineNumber = lineNumber };
        int pos = 0;
        bool any = false;
        var rest = line.AsSpan();
        Match m;
        if ((m = DecodePrefix.Match(line)).Success)
        {
            int f = Array.IndexOf(FacilityNames, m.Groups["fac"].Value);
            int l = Array.IndexOf(LevelNames, m.Groups["lvl"].Value);
            if (f >= 0 && l >= 0) { p.Facility = (KernelLogFacility)f; p.Level = (KernelLogLevel)l; pos = m.Length; any = true; }
        }
        if ((m = PriorityPrefix.Match(line, pos, line.Length - pos)).Success && m.Index == pos)
        {
            int pri = int.Parse(m.Groups["pri"].Value, CultureInfo.InvariantCulture);
            p.Level = (KernelLogLevel)(pri & 7);
            p.Facility = (KernelLogFacility)Math.Min(pri >> 3, (int)KernelLogFacility.Local7);
            pos += m.Length;
            any = true;
        }
        if ((m = TimePrefix.Match(line, pos, line.Length - pos)).Success && m.Index == pos)
        {
            var seconds = decimal.Parse(m.Groups["ts"].Value, CultureInfo.InvariantCulture);
            p.TimeSinceBoot = TimeSpan.FromTicks((long)(seconds * 10_000_000m));
            pos += m.Length;
            any = true;
        }
        else if ((m = CtimePrefix.Match(line, pos, line.Length - pos)).Success && m.Index == pos &&
                 DateTime.TryParseExact(Regex.Replace(m.Groups["ct"].Value, "  +", " "), "ddd MMM d HH:mm:ss yyyy", CultureInfo.InvariantCulture,
                     DateTimeStyles.AssumeLocal, out var ct))
        {
            p.Timestamp = ct;
            pos += m.Length;
            any = true;
        }
        else if ((m = IsoPrefix.Match(line, pos, line.Length - pos)).Success && m.Index == pos &&
                 DateTimeOffset.TryParseExact(m.Groups["iso"].Value, "yyyy-MM-dd'T'HH:mm:ss,ffffffzzz", CultureInfo.InvariantCulture, DateTimeStyles.None, out var iso))
        {
            p.Timestamp = iso.LocalDateTime;
            pos += m.Length;
            any = true;
        }
        else if ((m = RelTimePrefix.Match(line, pos, line.Length - pos)).Success && m.Index == pos)
        {
            pos += m.Length;
            any = true;
        }
        if (any && (m = CallerPrefix.Match(line, pos, line.Length - pos)).Success && m.Index == pos)
        {
            p.Caller = m.Groups["caller"].Value;
            pos += m.Length;
        }
        if (!any) return null;
        if (pos < line.Length && line[pos] == ' ') pos++;
        p.Prefixed = true;
        p.PrefixWidth = pos;
        p.Message = new StringBuilder(line.Length - pos).Append(line, pos, line.Length - pos);
        return p;
    }

    private sealed class Pending
    {
        public bool Kmsg;
        public StringBuilder KmsgText = new();
        public bool Prefixed;
        public int PrefixWidth;
        public int LineNumber;
        public KernelLogLevel? Level;
        public KernelLogFacility? Facility;
        public TimeSpan? TimeSinceBoot;
        public DateTime? Timestamp;
        public string? Caller;
        public StringBuilder Message = new();

        public static Pending FromKmsg(string line, int lineNumber) =>
            new() { Kmsg = true, KmsgText = new StringBuilder(line), LineNumber = lineNumber };

        public KernelLogEntry Build(DateTime? bootTimeUtc, string? source)
        {
            if (Kmsg)
                return KmsgRecord.Parse(Encoding.UTF8.GetBytes(KmsgText.ToString()), bootTimeUtc, source, LineNumber)
                       ?? new KernelLogEntry { Message = KmsgText.ToString(), Source = source, LineNumber = LineNumber };
            return new KernelLogEntry
            {
                Level = Level,
                Facility = Facility,
                TimeSinceBoot = TimeSinceBoot,
                Timestamp = Timestamp ?? (bootTimeUtc is { } b && TimeSinceBoot is { } t ? (b + t).ToLocalTime() : null),
                Caller = Caller,
                Message = Message.ToString(),
                Source = source,
                LineNumber = LineNumber,
            };
        }
    }
}
