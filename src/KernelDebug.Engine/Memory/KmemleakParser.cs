using System.Globalization;
using System.Text.RegularExpressions;

namespace KernelDebug.Memory;

/// <summary>
/// Parses kmemleak reports: /sys/kernel/debug/kmemleak, the kernel log's verbose copy ("kmemleak:" prefixed lines),
/// and syzbot's "BUG: memory leak" reports. Accepts the variants of kernel versions: with and without "(age N.NNNs)",
/// "backtrace:" or "backtrace (crc X):", hashed or real [&lt;pointer&gt;] prefixes or none, file:line annotations.
/// </summary>
public static class KmemleakParser
{
    private const RegexOptions Opts = RegexOptions.Compiled | RegexOptions.CultureInvariant;
    private static readonly Regex Start = new(@"^unreferenced object 0x(?<addr>[0-9a-fA-F]+) \(size (?<size>\d+)\):", Opts);
    private static readonly Regex Comm = new(@"^comm ""(?<comm>.*)"", pid (?<pid>\d+), jiffies (?<j>\d+)(?: \(age (?<age>[\d.]+)s\))?", Opts);
    private static readonly Regex HexHeader = new(@"^hex dump \(first (?<n>\d+) bytes\):", Opts);
    private static readonly Regex HexLine = new(@"^(?<hex>(?:[0-9a-f]{2} ){0,31}[0-9a-f]{2})(?:  |$)", Opts);
    private static readonly Regex Backtrace = new(@"^backtrace(?: \(crc (?<crc>[0-9a-fA-F]+)\))?:", Opts);
    private const string LogPrefix = "kmemleak:";

    public static IEnumerable<KmemleakObject> Parse(IEnumerable<KernelLogEntry> entries, Func<ulong, TimeSpan?>? ageFromJiffies = null)
    {
        Builder? b = null;
        foreach (var entry in entries)
        {
            int n = 0;
            foreach (var raw in entry.Message.Split('\n'))
            {
                var line = raw.TrimEnd();
                // The kernel log copy (kmemleak verbose) prefixes each line with "kmemleak: ".
                if (line.StartsWith(LogPrefix, StringComparison.Ordinal))
                    line = line.Length > LogPrefix.Length && line[LogPrefix.Length] == ' ' ? line[(LogPrefix.Length + 1)..] : line[LogPrefix.Length..];
                var text = line.Trim();
                var m = Start.Match(text);
                // An address or size too large for its type (a corrupt line) starts no object: the line is text.
                if (m.Success && ulong.TryParse(m.Groups["addr"].Value, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong address)
                    && long.TryParse(m.Groups["size"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out long size))
                {
                    if (b is not null) yield return b.Build(ageFromJiffies);
                    b = new Builder
                    {
                        Address = address,
                        Size = size,
                        Source = entry.Source,
                        LineNumber = entry.LineNumber + n,
                    };
                    b.Raw.Add(text);
                }
                else if (b is not null && !b.Handle(text))
                {
                    yield return b.Build(ageFromJiffies);
                    b = null;
                }
                else b?.Raw.Add(line);
                n++;
            }
        }
        if (b is not null) yield return b.Build(ageFromJiffies);
    }

    private sealed class Builder
    {
        public ulong Address;
        public long Size;
        public string? Source;
        public int? LineNumber;
        public readonly List<string> Raw = new();
        private string? _comm;
        private int? _pid;
        private ulong? _jiffies;
        private TimeSpan? _age;
        private uint? _crc;
        private readonly List<byte> _hex = new();
        private readonly List<KernelReportFrame> _frames = new();
        private int _state; // 0 header, 1 hex dump, 2 backtrace

        /// <summary>False when the line is not part of this object (the report ended).</summary>
        public bool Handle(string text)
        {
            Match m;
            if (text.Length == 0) return _state != 2 || _frames.Count == 0;
            if ((m = Comm.Match(text)).Success)
            {
                _comm = m.Groups["comm"].Value;
                // Numbers out of range (a corrupt line) stay unknown rather than failing the report.
                _pid = int.TryParse(m.Groups["pid"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) ? pid : null;
                _jiffies = ulong.TryParse(m.Groups["j"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out ulong j) ? j : null;
                if (m.Groups["age"].Success && double.TryParse(m.Groups["age"].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double age)
                    && age < TimeSpan.MaxValue.TotalSeconds)
                    _age = TimeSpan.FromSeconds(age);
                return true;
            }
            if (HexHeader.IsMatch(text)) { _state = 1; return true; }
            if ((m = Backtrace.Match(text)).Success)
            {
                if (m.Groups["crc"].Success && uint.TryParse(m.Groups["crc"].Value, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint crc)) _crc = crc;
                _state = 2;
                return true;
            }
            if (_state == 1 && (m = HexLine.Match(text)).Success)
            {
                foreach (var h in m.Groups["hex"].Value.Split(' ')) _hex.Add(byte.Parse(h, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                return true;
            }
            if (_state == 2 && KernelFrameParser.TryParse(text, out var f)) { _frames.Add(f); return true; }
            // Elided frames in hand-trimmed reports.
            if (_state == 2 && text == "...") return true;
            return false;
        }

        public KmemleakObject Build(Func<ulong, TimeSpan?>? ageFromJiffies) => new()
        {
            Address = Address,
            Size = Size,
            Comm = _comm,
            ProcessId = _pid,
            Jiffies = _jiffies,
            Age = _age ?? (_jiffies is { } j && ageFromJiffies is not null ? ageFromJiffies(j) : null),
            HexDump = _hex.ToArray(),
            Backtrace = _frames.ToArray(),
            Crc = _crc,
            Source = Source,
            LineNumber = LineNumber,
            Raw = string.Join("\n", Raw),
        };
    }
}
