using System.Runtime.CompilerServices;

namespace KernelDebug.Perf;

/// <summary>
/// Records that do not sit in the file at an offset of their own (decompressed from COMPRESSED records, or read
/// from a stream) are copied here, each whole in one segment, and addressed above Base so that one long stands for
/// a record wherever it lives. Segments are dropped once no waiting record points into them: memory stays bounded
/// by perf's flush rounds.
/// </summary>
internal sealed class RecordArena
{
    public const long Base = 1L << 62;
    private const int SegmentSize = 1 << 20;
    private readonly List<(long Start, byte[] Bytes)> _segments = new();
    private byte[]? _current;
    private long _currentStart = Base, _next = Base;
    private int _used;

    public static bool Owns(long address) => address >= Base;

    public long Append(ReadOnlySpan<byte> record)
    {
        if (_current is null || record.Length > _current.Length - _used)
        {
            _current = new byte[Math.Max(SegmentSize, record.Length)];
            _currentStart = _next;
            _next += _current.Length;
            _used = 0;
            _segments.Add((_currentStart, _current));
        }
        record.CopyTo(_current.AsSpan(_used));
        long address = _currentStart + _used;
        _used += record.Length;
        return address;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<byte> Span(long address, int length)
    {
        if (_current is not null && address >= _currentStart) return new ReadOnlySpan<byte>(_current, (int)(address - _currentStart), length);
        int lo = 0, hi = _segments.Count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >>> 1;
            if (_segments[mid].Start <= address) lo = mid;
            else hi = mid - 1;
        }
        var seg = _segments[lo];
        return new ReadOnlySpan<byte>(seg.Bytes, (int)(address - seg.Start), length);
    }

    /// <summary>Drops the segments that end at or before the lowest address still needed (all but the current one when nothing is).</summary>
    public void Release(long lowestNeeded)
    {
        int drop = 0;
        while (drop < _segments.Count - 1 && _segments[drop].Start + _segments[drop].Bytes.Length <= lowestNeeded) drop++;
        if (drop > 0) _segments.RemoveRange(0, drop);
    }

    public int Segments => _segments.Count;
}
