using System.Collections;
using System.Management.Automation;
using System.Text;
using KernelDebug.Ftrace;

namespace KernelDebug;

/// <summary>
/// One decoded trace event from the ring buffer. Records read from the binary buffer keep their raw payload and
/// decode their field values on first use of Fields (or of a field property): a stream that only counts, filters on
/// the header or passes records on pays for no field it does not read.
/// </summary>
public sealed class TraceRecord
{
    private TraceFieldValues? _fields;
    // Undecoded fields: the event's format and a copy of its payload (from common_type). Cleared once decoded.
    private readonly TraceEventFormat? _format;
    private byte[]? _payload;
    private readonly TraceClock? _clock;
    private readonly DateTime? _time;

    public TraceRecord() { }

    /// <summary>A record whose fields are decoded from <paramref name="payload"/> when first read.</summary>
    internal TraceRecord(TraceEventFormat format, byte[] payload, TraceClock clock)
    {
        _format = format;
        _payload = payload;
        _clock = clock;
        System = format.System;
        Name = format.Name;
        EventId = format.Id;
    }

    private ulong _timestamp;
    private string? _instance;

    /// <summary>Trace-clock time in nanoseconds (the instance's trace_clock).</summary>
    public ulong Timestamp { get => _timestamp; init => _timestamp = value; }
    /// <summary>The buffer (instance) a record read from a trace.dat was saved from; null for the top level and live streams.</summary>
    public string? Instance { get => _instance; init => _instance = value; }
    /// <summary>Wall-clock time (local), where the trace clock maps onto it (mono, mono_raw, boot, tai); null otherwise.</summary>
    public DateTime? Time { get => _clock is { } c ? c.ToDateTime(Timestamp) : _time; init => _time = value; }
    public int Cpu { get; init; }
    public int ProcessId { get; init; }
    public string? Comm { get; init; }
    public string System { get; init; } = "";
    public string Name { get; init; } = "";
    public int EventId { get; init; }
    /// <summary>common_flags: irqs-off, need-resched, hardirq, softirq... as the kernel's latency format shows them.</summary>
    public byte Flags { get; init; }
    public byte PreemptCount { get; init; }
    /// <summary>The event's own fields in format-file order, with typed values.</summary>
    public TraceFieldValues Fields { get => Volatile.Read(ref _fields) ?? DecodeFields(); init => _fields = value; }

    /// <summary>The event's format, where the record was decoded from binary (null for records parsed from text).</summary>
    internal TraceEventFormat? Format => _format ?? _eagerFormat;
    private readonly TraceEventFormat? _eagerFormat;

    /// <summary>A record decoded at once (its fields already read), keeping its format for re-encoding.</summary>
    internal TraceRecord(TraceEventFormat format, TraceFieldValues fields)
    {
        _eagerFormat = format;
        _fields = fields;
        System = format.System;
        Name = format.Name;
        EventId = format.Id;
    }

    /// <summary>The record's payload as the ring buffer held it (from common_type), while its fields are undecoded; else null.</summary>
    internal byte[]? RawPayload => Volatile.Read(ref _payload);

    /// <summary>Moves the record to the timeline of a trace.dat (its DATE/OFFSET options) and names its buffer. Before the record is handed out only.</summary>
    internal void Relocate(ulong timestamp, string? instance)
    {
        _timestamp = timestamp;
        _instance = instance;
    }

    /// <summary>The field names, without decoding the values.</summary>
    internal string[] FieldNames => Volatile.Read(ref _fields)?.Names ?? _format?.FieldNames ?? Array.Empty<string>();

    /// <summary>False while the values wait undecoded in the payload.</summary>
    internal bool FieldsDecoded => Volatile.Read(ref _fields) is not null;

    /// <summary>Value of field <paramref name="index"/> (of FieldNames).</summary>
    internal object? FieldValue(int index) => Fields.RawValues[index];

    private TraceFieldValues DecodeFields()
    {
        var payload = Volatile.Read(ref _payload);
        // Another thread decoded them: it published _fields before clearing _payload.
        if (payload is null || _format is null) return Volatile.Read(ref _fields) ?? TraceFieldValues.Empty;
        var fields = _format.FieldArray;
        var values = new object?[fields.Length];
        for (int i = 0; i < values.Length; i++) values[i] = TraceRecordDecoder.ReadField(fields[i], payload);
        var decoded = Interlocked.CompareExchange(ref _fields, new TraceFieldValues(_format.FieldNames, values), null) ?? _fields!;
        Volatile.Write(ref _payload, null);
        return decoded;
    }

    public string FullName => $"{System}:{Name}";

    /// <summary>Timestamp as the kernel's text renders it: seconds.microseconds, rounded to the nearest microsecond (ns2usecs).</summary>
    public string TimestampText
    {
        get
        {
            ulong us = (Timestamp + 500) / 1000;
            return $"{us / 1_000_000}.{us % 1_000_000:D6}";
        }
    }

    public override string ToString() => $"{Comm}-{ProcessId} [{Cpu:D3}] {TimestampText}: {Name}: {Fields}";

    /// <summary>
    /// The record as a PSObject with every field also a note property (so Where-Object prev_pid -eq 1 works), named as
    /// TraceRecordAdapter names them: a field that collides with a record property (comm) is comm_field.
    /// </summary>
    public PSObject ToPSObject()
    {
        var pso = new PSObject(this);
        var names = Fields.Names;
        var values = Fields.RawValues;
        for (int i = 0; i < names.Length; i++)
            if (TraceRecordAdapter.FieldPropertyName(names, i) is { } n) pso.Properties.Add(new PSNoteProperty(n, values[i]));
        return pso;
    }
}

/// <summary>
/// The ordered, typed field values of one record. Names are shared by every record of an event; lookups are
/// case-insensitive. Works as a dictionary in PowerShell ($r.Fields.prev_pid, $r.Fields['prev_pid']).
/// </summary>
public sealed class TraceFieldValues : IDictionary, IReadOnlyDictionary<string, object?>
{
    public static readonly TraceFieldValues Empty = new(Array.Empty<string>(), Array.Empty<object?>());

    public TraceFieldValues(string[] names, object?[] values)
    {
        Names = names;
        RawValues = values;
    }

    public string[] Names { get; }
    public object?[] RawValues { get; }

    private int IndexOf(string key)
    {
        for (int i = 0; i < Names.Length; i++) if (string.Equals(Names[i], key, StringComparison.Ordinal)) return i;
        for (int i = 0; i < Names.Length; i++) if (string.Equals(Names[i], key, StringComparison.OrdinalIgnoreCase)) return i;
        return -1;
    }

    public object? this[string key] => IndexOf(key) is int i and >= 0 ? RawValues[i] : null;
    public object? this[object key] { get => key is string s ? this[s] : null; set => throw new NotSupportedException(); }
    public int Count => Names.Length;
    public bool ContainsKey(string key) => IndexOf(key) >= 0;
    public bool TryGetValue(string key, out object? value)
    {
        int i = IndexOf(key);
        value = i >= 0 ? RawValues[i] : null;
        return i >= 0;
    }
    public IEnumerable<string> Keys => Names;
    public IEnumerable<object?> Values => RawValues;
    ICollection IDictionary.Keys => Names;
    ICollection IDictionary.Values => RawValues;
    public bool IsFixedSize => true;
    public bool IsReadOnly => true;
    public bool IsSynchronized => false;
    public object SyncRoot => this;
    public bool Contains(object key) => key is string s && ContainsKey(s);
    public void Add(object key, object? value) => throw new NotSupportedException();
    public void Clear() => throw new NotSupportedException();
    public void Remove(object key) => throw new NotSupportedException();
    public void CopyTo(Array array, int index)
    {
        for (int i = 0; i < Names.Length; i++) array.SetValue(new DictionaryEntry(Names[i], RawValues[i]), index + i);
    }

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        for (int i = 0; i < Names.Length; i++) yield return new KeyValuePair<string, object?>(Names[i], RawValues[i]);
    }

    IDictionaryEnumerator IDictionary.GetEnumerator() => new Enumerator(this);
    IEnumerator IEnumerable.GetEnumerator() => new Enumerator(this);

    private sealed class Enumerator : IDictionaryEnumerator
    {
        private readonly TraceFieldValues _v;
        private int _i = -1;
        public Enumerator(TraceFieldValues v) => _v = v;
        public DictionaryEntry Entry => new(_v.Names[_i], _v.RawValues[_i]);
        public object Key => _v.Names[_i];
        public object? Value => _v.RawValues[_i];
        public object Current => Entry;
        public bool MoveNext() => ++_i < _v.Names.Length;
        public void Reset() => _i = -1;
    }

    /// <summary>name=value pairs, as trace-cmd and the raw trace format print them.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < Names.Length; i++)
        {
            if (i > 0) sb.Append(' ');
            sb.Append(Names[i]).Append('=').Append(FormatValue(RawValues[i]));
        }
        return sb.ToString();
    }

    internal static string FormatValue(object? v) => v switch
    {
        null => "",
        string s => s,
        byte[] b => Convert.ToHexString(b),
        DateTime t => t.ToString("o", System.Globalization.CultureInfo.InvariantCulture),
        DateTimeOffset t => t.ToString("o", System.Globalization.CultureInfo.InvariantCulture),
        Array a => "{" + string.Join(",", a.Cast<object>()) + "}",
        _ => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };
}
