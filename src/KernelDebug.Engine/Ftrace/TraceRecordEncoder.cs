using System.Buffers.Binary;
using System.Globalization;
using System.Management.Automation;
using System.Text;
using KernelDebug.Native;

namespace KernelDebug.Ftrace;

/// <summary>
/// The inverse of TraceRecordDecoder.ReadField: a record's header and field values laid out as the event's format
/// says (scalars by size, fixed arrays, __data_loc/__rel_loc and flexible arrays after the fixed part), so records
/// whose raw payload is gone can be saved as ring-buffer pages again.
/// </summary>
internal static class TraceRecordEncoder
{
    public static byte[] Encode(TraceRecord record, TraceEventFormat format)
    {
        int fixedSize = 0;
        foreach (var f in format.AllFields)
            if (f.Kind != TraceFieldKind.FlexibleArray) fixedSize = Math.Max(fixedSize, f.Offset + f.Size);
        var fields = record.Fields;
        // Dynamic data (strings of __data_loc, flexible arrays) follows the fixed part, in field order.
        var tail = new MemoryStream();
        var buf = new byte[fixedSize];
        var dynamic = new List<(TraceEventField Field, int Offset, int Length)>();
        foreach (var f in format.AllFields)
        {
            object? value = f.IsCommon ? CommonValue(record, format, f) : fields.TryGetValue(f.Name, out var v) ? v : null;
            switch (f.Kind)
            {
                case TraceFieldKind.Scalar:
                    WriteScalar(buf.AsSpan(f.Offset, f.Size), value, f);
                    break;
                case TraceFieldKind.Array:
                {
                    var bytes = ArrayBytes(value, f, nulTerminate: false);
                    bytes.AsSpan(0, Math.Min(bytes.Length, f.Size)).CopyTo(buf.AsSpan(f.Offset, f.Size));
                    break;
                }
                case TraceFieldKind.DataLocation:
                case TraceFieldKind.RelativeLocation:
                {
                    var bytes = value is null ? Array.Empty<byte>() : ArrayBytes(value, f, nulTerminate: true);
                    dynamic.Add((f, fixedSize + (int)tail.Length, bytes.Length));
                    tail.Write(bytes);
                    break;
                }
                case TraceFieldKind.FlexibleArray:
                    if (value is not null) tail.Write(ArrayBytes(value, f, nulTerminate: false));
                    break;
            }
        }
        foreach (var (f, offset, length) in dynamic)
        {
            int stored = f.Kind == TraceFieldKind.RelativeLocation ? offset - (f.Offset + f.Size) : offset;
            BinaryPrimitives.WriteUInt32LittleEndian(buf.AsSpan(f.Offset, 4), (uint)(stored & 0xffff) | (uint)(length << 16));
        }
        if (tail.Length == 0) return buf;
        var all = new byte[fixedSize + tail.Length];
        buf.CopyTo(all, 0);
        tail.ToArray().CopyTo(all, fixedSize);
        return all;
    }

    private static object? CommonValue(TraceRecord r, TraceEventFormat format, TraceEventField f) => f.Name switch
    {
        "common_type" => format.Id,
        "common_flags" => r.Flags,
        "common_preempt_count" => r.PreemptCount,
        "common_pid" => r.ProcessId,
        _ => null,
    };

    private static void WriteScalar(Span<byte> into, object? value, TraceEventField f)
    {
        ulong v = ToBits(value, f);
        switch (into.Length)
        {
            case 1: into[0] = (byte)v; break;
            case 2: BinaryPrimitives.WriteUInt16LittleEndian(into, (ushort)v); break;
            case 4: BinaryPrimitives.WriteUInt32LittleEndian(into, (uint)v); break;
            case 8: BinaryPrimitives.WriteUInt64LittleEndian(into, v); break;
            default:
                if (value is byte[] b) b.AsSpan(0, Math.Min(b.Length, into.Length)).CopyTo(into);
                break;
        }
    }

    private static ulong ToBits(object? value, TraceEventField f)
    {
        switch (value)
        {
            case null: return 0;
            case bool b: return b ? 1UL : 0;
            case sbyte or short or int or long: return unchecked((ulong)Convert.ToInt64(value, CultureInfo.InvariantCulture));
            case byte or ushort or uint or ulong: return Convert.ToUInt64(value, CultureInfo.InvariantCulture);
            case string s when s.StartsWith("0x", StringComparison.OrdinalIgnoreCase) &&
                               ulong.TryParse(s.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var h): return h;
            case string s when long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l): return unchecked((ulong)l);
            case string s when ulong.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var u): return u;
            default:
                throw new KernelDebugException($"The value '{value}' of field {f.Name} is not a number; it cannot be saved in the binary format.",
                    "TraceRecordNotEncodable", ErrorCategory.InvalidData);
        }
    }

    private static byte[] ArrayBytes(object? value, TraceEventField f, bool nulTerminate)
    {
        switch (value)
        {
            case null: return Array.Empty<byte>();
            case string s:
            {
                var b = Encoding.UTF8.GetBytes(s);
                if (!nulTerminate) return b;
                var withNul = new byte[b.Length + 1];
                b.CopyTo(withNul, 0);
                return withNul;
            }
            case byte[] b: return b;
            case Array a:
            {
                int es = f.ElementSize;
                var o = new byte[a.Length * es];
                for (int i = 0; i < a.Length; i++)
                {
                    ulong v = ToBits(a.GetValue(i), f);
                    var span = o.AsSpan(i * es, es);
                    switch (es)
                    {
                        case 1: span[0] = (byte)v; break;
                        case 2: BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)v); break;
                        case 4: BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)v); break;
                        case 8: BinaryPrimitives.WriteUInt64LittleEndian(span, v); break;
                    }
                }
                return o;
            }
            default:
                throw new KernelDebugException($"The value of field {f.Name} ({value.GetType().Name}) cannot be saved in the binary format.",
                    "TraceRecordNotEncodable", ErrorCategory.InvalidData);
        }
    }
}
