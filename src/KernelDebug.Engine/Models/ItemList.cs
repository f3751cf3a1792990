using System.Collections;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace KernelDebug;

/// <summary>
/// The nested list of a record (a syscall's arguments, a sample's call chain, a report's stack): read-only, indexed,
/// counted (Count and Length) and enumerated like the array it wraps, serialized as a list over remoting, and its text
/// is its items' text joined by ", ". Export-Csv writes a property's ToString(), so the column reads
/// "fd=3, buf=..., count=832" rather than a type name.
/// </summary>
public sealed class ItemList<T> : IReadOnlyList<T>, IList<T>, IList
{
    public static readonly ItemList<T> Empty = new(Array.Empty<T>());

    private readonly IReadOnlyList<T> _items;

    public ItemList(IReadOnlyList<T> items) => _items = items;

    public static implicit operator ItemList<T>(T[] items) => items.Length == 0 ? Empty : new(items);
    public static implicit operator ItemList<T>(List<T> items) => items.Count == 0 ? Empty : new(items);

    public int Count => _items.Count;
    /// <summary>As for the arrays these lists replace.</summary>
    public int Length => _items.Count;
    public T this[int index] => _items[index];

    public IEnumerator<T> GetEnumerator() => _items.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => _items.GetEnumerator();

    public int IndexOf(T item)
    {
        var cmp = EqualityComparer<T>.Default;
        for (int i = 0; i < _items.Count; i++) if (cmp.Equals(_items[i], item)) return i;
        return -1;
    }

    public bool Contains(T item) => IndexOf(item) >= 0;

    public void CopyTo(T[] array, int arrayIndex)
    {
        for (int i = 0; i < _items.Count; i++) array[arrayIndex + i] = _items[i];
    }

    public T[] ToArray() => _items is T[] a ? (T[])a.Clone() : _items.ToArray();

    /// <summary>The items' text joined by ", "; bytes as hex pairs ("0a 00 ff"), as bpftool and kmemleak print them.</summary>
    public override string ToString() => this is ItemList<byte> bytes
        ? string.Join(' ', bytes._items.Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)))
        : string.Join(", ", _items.Select(i => TraceFieldValues.FormatValue(i)));

    T IList<T>.this[int index] { get => _items[index]; set => throw ReadOnly(); }
    object? IList.this[int index] { get => _items[index]; set => throw ReadOnly(); }
    bool ICollection<T>.IsReadOnly => true;
    bool IList.IsReadOnly => true;
    bool IList.IsFixedSize => true;
    bool ICollection.IsSynchronized => false;
    object ICollection.SyncRoot => this;
    void ICollection<T>.Add(T item) => throw ReadOnly();
    void ICollection<T>.Clear() => throw ReadOnly();
    bool ICollection<T>.Remove(T item) => throw ReadOnly();
    void IList<T>.Insert(int index, T item) => throw ReadOnly();
    void IList<T>.RemoveAt(int index) => throw ReadOnly();
    int IList.Add(object? value) => throw ReadOnly();
    void IList.Clear() => throw ReadOnly();
    bool IList.Contains(object? value) => value is T t && Contains(t);
    int IList.IndexOf(object? value) => value is T t ? IndexOf(t) : -1;
    void IList.Insert(int index, object? value) => throw ReadOnly();
    void IList.Remove(object? value) => throw ReadOnly();
    void IList.RemoveAt(int index) => throw ReadOnly();
    void ICollection.CopyTo(Array array, int index)
    {
        for (int i = 0; i < _items.Count; i++) array.SetValue(_items[i], index + i);
    }

    private static NotSupportedException ReadOnly() => new("The list is read-only.");
}

/// <summary>ItemList from any sequence.</summary>
public static class ItemList
{
    public static ItemList<T> Of<T>(IEnumerable<T> items) => items switch
    {
        ItemList<T> l => l,
        T[] a => a,
        IReadOnlyList<T> r => r.Count == 0 ? ItemList<T>.Empty : new ItemList<T>(r),
        _ => items.ToArray(),
    };
}

/// <summary>
/// A record's nested key=value table (a link's details, a log record's properties, a bpftrace map's entries): a
/// Dictionary whose text is "key=value, key=value" in insertion order, for Export-Csv. ConvertTo-Json (System.Text.Json
/// in pwsh 7.6) refuses dictionaries with keys other than strings; this one writes its keys as their text.
/// </summary>
[JsonConverter(typeof(ItemDictionaryJsonConverter))]
public sealed class ItemDictionary<TKey, TValue> : Dictionary<TKey, TValue> where TKey : notnull
{
    public ItemDictionary() { }
    public ItemDictionary(IEqualityComparer<TKey>? comparer) : base(comparer) { }

    public override string ToString() =>
        string.Join(", ", this.Select(kv => $"{TraceFieldValues.FormatValue(kv.Key)}={TraceFieldValues.FormatValue(kv.Value)}"));
}

/// <summary>Writes an ItemDictionary as a JSON object keyed by the keys' text (bpftrace's integer and tuple keys).</summary>
internal sealed class ItemDictionaryJsonConverter : JsonConverterFactory
{
    public override bool CanConvert(Type typeToConvert) =>
        typeToConvert.IsGenericType && typeToConvert.GetGenericTypeDefinition() == typeof(ItemDictionary<,>);

    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        (JsonConverter)Activator.CreateInstance(typeof(Writer<,>).MakeGenericType(typeToConvert.GetGenericArguments()))!;

    private sealed class Writer<TKey, TValue> : JsonConverter<ItemDictionary<TKey, TValue>> where TKey : notnull
    {
        public override ItemDictionary<TKey, TValue> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            throw new NotSupportedException("Kernel records are written, not read, as JSON.");

        public override void Write(Utf8JsonWriter writer, ItemDictionary<TKey, TValue> value, JsonSerializerOptions options)
        {
            writer.WriteStartObject();
            foreach (var kv in value)
            {
                writer.WritePropertyName(TraceFieldValues.FormatValue(kv.Key));
                JsonSerializer.Serialize(writer, kv.Value, kv.Value?.GetType() ?? typeof(object), options);
            }
            writer.WriteEndObject();
        }
    }
}
