using System.Buffers.Binary;
using System.Globalization;
using System.Text.RegularExpressions;
using KernelDebug.Host;

namespace KernelDebug.Ftrace;

/// <summary>
/// The ring buffer's page and event header layout, from events/header_page and events/header_event
/// (as libtraceevent's kbuffer reads them). A sub-buffer ("page") is: u64 base timestamp, local_t commit
/// (bytes of data, plus the missed-events flags), then events. An event header is a u32: type_len (5 bits),
/// time_delta (27 bits), then array[0] for the long types.
/// </summary>
public sealed class RingBufferLayout
{
    public int TimestampOffset { get; init; }
    public int CommitOffset { get; init; } = 8;
    public int CommitSize { get; init; } = 8;
    public int DataOffset { get; init; } = 16;
    public int TypeLenBits { get; init; } = 5;
    public int TimeDeltaBits { get; init; } = 27;
    public int PaddingType { get; init; } = 29;
    public int TimeExtendType { get; init; } = 30;
    public int TimeStampType { get; init; } = 31;
    /// <summary>Bytes per sub-buffer: what one read of trace_pipe_raw returns at most.</summary>
    public int PageSize { get; init; } = 4096;

    // kbuffer's flags in the commit word.
    public const ulong MissedEvents = 1UL << 31, MissedStored = 1UL << 30;
    private const ulong CommitMask = (1UL << 27) - 1;

    public static RingBufferLayout Load(string traceFsRoot, FtraceInstance? instance = null)
    {
        var page = ControlFile.ReadText(Path.Combine(traceFsRoot, "events", "header_page"));
        var evt = ControlFile.ReadText(Path.Combine(traceFsRoot, "events", "header_event"));
        int pageSize = Environment.SystemPageSize;
        var subbuf = ControlFile.TryReadText(Path.Combine(instance?.Path ?? traceFsRoot, "buffer_subbuf_size_kb"), out _);
        if (subbuf is not null && int.TryParse(subbuf.Trim(), out int kb) && kb > 0) pageSize = kb * 1024;
        return Parse(page, evt, pageSize);
    }

    public static RingBufferLayout Parse(string headerPage, string headerEvent, int pageSize)
    {
        var fields = TraceEventFormat.Parse("header_page", headerPage).AllFields.ToDictionary(f => f.Name);
        int Num(string pattern, int fallback)
        {
            var m = Regex.Match(headerEvent, pattern);
            return m.Success ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : fallback;
        }
        return new RingBufferLayout
        {
            TimestampOffset = fields.TryGetValue("timestamp", out var ts) ? ts.Offset : 0,
            CommitOffset = fields.TryGetValue("commit", out var c) ? c.Offset : 8,
            CommitSize = fields.TryGetValue("commit", out var c2) ? c2.Size : 8,
            DataOffset = fields.TryGetValue("data", out var d) ? d.Offset : 16,
            TypeLenBits = Num(@"type_len\s*:\s*(\d+)\s*bits", 5),
            TimeDeltaBits = Num(@"time_delta\s*:\s*(\d+)\s*bits", 27),
            PaddingType = Num(@"padding\s*:\s*type\s*==\s*(\d+)", 29),
            TimeExtendType = Num(@"time_extend\s*:\s*type\s*==\s*(\d+)", 30),
            TimeStampType = Num(@"time_stamp\s*:\s*type\s*==\s*(\d+)", 31),
            PageSize = pageSize,
        };
    }

    /// <summary>The page header: base timestamp, bytes of event data, and missed events (-1: some, count unknown).</summary>
    public (ulong Timestamp, int DataSize, long Missed) ReadHeader(ReadOnlySpan<byte> page)
    {
        ulong ts = BinaryPrimitives.ReadUInt64LittleEndian(page[TimestampOffset..]);
        ulong commit = CommitSize == 8
            ? BinaryPrimitives.ReadUInt64LittleEndian(page[CommitOffset..])
            : BinaryPrimitives.ReadUInt32LittleEndian(page[CommitOffset..]);
        int size = (int)(commit & CommitMask);
        long missed = 0;
        if ((commit & MissedEvents) != 0)
        {
            missed = -1;
            int at = DataOffset + size;
            if ((commit & MissedStored) != 0 && at + CommitSize <= page.Length)
                missed = CommitSize == 8 ? (long)BinaryPrimitives.ReadUInt64LittleEndian(page[at..]) : BinaryPrimitives.ReadUInt32LittleEndian(page[at..]);
        }
        return (ts, Math.Min(size, Math.Max(0, page.Length - DataOffset)), missed);
    }
}

/// <summary>One event's payload in a page: the absolute timestamp and where its data is.</summary>
public readonly record struct RawEvent(ulong Timestamp, int Offset, int Length);

/// <summary>Walks the events of one ring-buffer page, applying time deltas, TIME_EXTEND, absolute TIME_STAMPs and PADDING.</summary>
public static class RingBufferPage
{
    private const ulong TsMsb = 0xf8UL << 56;

    /// <summary>Calls <paramref name="onEvent"/> for every data event of the page, in order. Returns the missed-events count of the header.</summary>
    public static long Walk(RingBufferLayout layout, ReadOnlySpan<byte> page, List<RawEvent> into)
    {
        var (ts, size, missed) = layout.ReadHeader(page);
        int pos = layout.DataOffset;
        int end = layout.DataOffset + size;
        uint typeMask = (1u << layout.TypeLenBits) - 1;
        while (pos + 4 <= end)
        {
            uint header = BinaryPrimitives.ReadUInt32LittleEndian(page[pos..]);
            int typeLen = (int)(header & typeMask);
            ulong delta = header >> layout.TypeLenBits;
            if (typeLen == layout.PaddingType)
            {
                // A padding with no delta is the null event: the rest of the page is unused.
                if (delta == 0 || pos + 8 > end) break;
                uint len = BinaryPrimitives.ReadUInt32LittleEndian(page[(pos + 4)..]);
                ts += delta;
                pos += 4 + (int)len;
            }
            else if (typeLen == layout.TimeExtendType)
            {
                if (pos + 8 > end) break;
                ulong ext = BinaryPrimitives.ReadUInt32LittleEndian(page[(pos + 4)..]);
                ts += (ext << layout.TimeDeltaBits) + delta;
                pos += 8;
            }
            else if (typeLen == layout.TimeStampType)
            {
                if (pos + 8 > end) break;
                ulong ext = BinaryPrimitives.ReadUInt32LittleEndian(page[(pos + 4)..]);
                ulong abs = (ext << layout.TimeDeltaBits) | delta;
                // The absolute stamp holds the low 59 bits; the top bits come from the page's time.
                ts = abs | (ts & TsMsb);
                pos += 8;
            }
            else if (typeLen == 0)
            {
                if (pos + 8 > end) break;
                int len = (int)BinaryPrimitives.ReadUInt32LittleEndian(page[(pos + 4)..]) - 4;
                ts += delta;
                if (len < 0 || pos + 8 + len > end) break;
                into.Add(new RawEvent(ts, pos + 8, len));
                pos += 8 + ((len + 3) & ~3);
            }
            else
            {
                int len = typeLen * 4;
                ts += delta;
                if (pos + 4 + len > end) break;
                into.Add(new RawEvent(ts, pos + 4, len));
                pos += 4 + len;
            }
        }
        return missed;
    }
}
