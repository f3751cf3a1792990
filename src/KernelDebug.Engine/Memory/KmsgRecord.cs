using System.Text;

namespace KernelDebug.Memory;

/// <summary>
/// Parses one /dev/kmsg record: "pri,seq,ts_usec,flags[,caller=T1][,…];message\n" followed by " KEY=value\n" lines.
/// The kernel escapes control bytes, bytes ≥ 0x7f and the backslash as \xNN (Documentation/ABI/testing/dev-kmsg).
/// </summary>
public static class KmsgRecord
{
    /// <summary>Parses a record as read() returned it; null when the header is malformed.</summary>
    public static KernelLogEntry? Parse(ReadOnlySpan<byte> record, DateTime? bootTimeUtc, string? source = null, int? lineNumber = null)
    {
        int semi = record.IndexOf((byte)';');
        if (semi < 0) return null;
        var header = Encoding.ASCII.GetString(record[..semi]).Split(',');
        if (header.Length < 4 || !int.TryParse(header[0], out int pri) || !ulong.TryParse(header[1], out ulong seq) ||
            !ulong.TryParse(header[2], out ulong usec))
            return null;
        string? caller = null;
        for (int i = 4; i < header.Length; i++)
            if (header[i].StartsWith("caller=", StringComparison.Ordinal)) caller = header[i][7..];

        var body = record[(semi + 1)..];
        int nl = body.IndexOf((byte)'\n');
        var messageBytes = nl < 0 ? body : body[..nl];
        var props = new ItemDictionary<string, string>(StringComparer.Ordinal);
        if (nl >= 0)
        {
            foreach (var rawLine in Encoding.UTF8.GetString(body[(nl + 1)..]).Split('\n'))
            {
                // Dictionary lines start with one space; the value is escaped like the message.
                if (rawLine.Length < 2 || rawLine[0] != ' ') continue;
                int eq = rawLine.IndexOf('=');
                if (eq < 2) continue;
                props[rawLine[1..eq]] = Unescape(Encoding.UTF8.GetBytes(rawLine[(eq + 1)..]));
            }
        }
        // A time no kernel can have logged (a corrupt record) is left unknown; the record is kept.
        TimeSpan? since = usec <= (ulong)(TimeSpan.MaxValue.Ticks / 10) ? TimeSpan.FromTicks((long)usec * 10) : null;
        return new KernelLogEntry
        {
            Sequence = seq,
            TimeSinceBoot = since,
            Timestamp = BootClock.At(bootTimeUtc, since),
            Level = (KernelLogLevel)(pri & 7),
            Facility = (KernelLogFacility)Math.Min(pri >> 3, (int)KernelLogFacility.Local7),
            Message = Unescape(messageBytes),
            Caller = caller,
            IsContinued = header[3].Contains('c'),
            Subsystem = props.GetValueOrDefault("SUBSYSTEM"),
            Device = props.GetValueOrDefault("DEVICE"),
            Properties = props.Count == 0 ? KernelLogEntry.EmptyProperties : props,
            Source = source,
            LineNumber = lineNumber,
        };
    }

    /// <summary>Turns \xNN escapes back into bytes, then decodes UTF-8 (as dmesg does before printing).</summary>
    public static string Unescape(ReadOnlySpan<byte> text)
    {
        if (text.IndexOf((byte)'\\') < 0) return Encoding.UTF8.GetString(text);
        var bytes = new byte[text.Length];
        int n = 0;
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\' && i + 3 < text.Length && text[i + 1] == 'x' &&
                IsHex(text[i + 2]) && IsHex(text[i + 3]))
            {
                bytes[n++] = (byte)(HexValue(text[i + 2]) << 4 | HexValue(text[i + 3]));
                i += 3;
            }
            else bytes[n++] = text[i];
        }
        return Encoding.UTF8.GetString(bytes, 0, n);
    }

    private static bool IsHex(byte b) => b is >= (byte)'0' and <= (byte)'9' or >= (byte)'a' and <= (byte)'f' or >= (byte)'A' and <= (byte)'F';

    private static int HexValue(byte b) => b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10;
}
