using System.Buffers.Binary;
using System.Management.Automation;
using System.Numerics;
using System.Text;
using KernelDebug.Native;

namespace KernelDebug.Bpf;

/// <summary>BTF kinds (include/uapi/linux/btf.h).</summary>
public enum BtfKind
{
    Unknown = 0, Int = 1, Ptr = 2, Array = 3, Struct = 4, Union = 5, Enum = 6, Fwd = 7, Typedef = 8, Volatile = 9,
    Const = 10, Restrict = 11, Func = 12, FuncProto = 13, Var = 14, Datasec = 15, Float = 16, DeclTag = 17, TypeTag = 18, Enum64 = 19,
}

/// <summary>One BTF type with its kind-specific data.</summary>
public sealed class BtfType
{
    public uint Id { get; init; }
    public BtfKind Kind { get; init; }
    public string Name { get; init; } = "";
    /// <summary>Size in bytes (int, struct, union, enum, float, datasec).</summary>
    public uint Size { get; init; }
    /// <summary>The referenced type (ptr, typedef, const, volatile, restrict, func, var, type tag, decl tag).</summary>
    public uint Type { get; init; }
    public bool KindFlag { get; init; }
    // int
    public bool Signed { get; init; }
    public bool IsChar { get; init; }
    public bool IsBool { get; init; }
    public int Bits { get; init; }
    public int BitOffset { get; init; }
    // array
    public uint ElementType { get; init; }
    public uint IndexType { get; init; }
    public uint Count { get; init; }
    // struct, union, enum, func_proto, datasec
    public BtfMember[] Members { get; init; } = System.Array.Empty<BtfMember>();

    public override string ToString() => $"[{Id}] {Kind.ToString().ToUpperInvariant()} '{Name}'";
}

/// <summary>A struct/union member (BitOffset, BitSize for bitfields), an enumerator (Value), or a parameter.</summary>
public sealed class BtfMember
{
    public string Name { get; init; } = "";
    public uint Type { get; init; }
    public uint BitOffset { get; init; }
    public uint BitSize { get; init; }
    public long Value { get; init; }
}

/// <summary>A parsed BTF blob: types by id (1-based; 0 is void) and the decoder of raw bytes into PowerShell values.</summary>
public sealed class BtfSpec
{
    public const ushort Magic = 0xeb9f;
    private readonly List<BtfType> _types;

    private BtfSpec(List<BtfType> types) => _types = types;

    public IReadOnlyList<BtfType> Types => _types;

    private Dictionary<string, List<BtfType>>? _byName;

    /// <summary>The named types of that name (an index built once: CO-RE looks names up in the kernel's 100k+ types).</summary>
    public IReadOnlyList<BtfType> Named(string name)
    {
        var index = _byName;
        if (index is null)
        {
            index = new Dictionary<string, List<BtfType>>(StringComparer.Ordinal);
            foreach (var t in _types)
            {
                if (t.Name.Length == 0) continue;
                if (!index.TryGetValue(t.Name, out var list)) index[t.Name] = list = new List<BtfType>(1);
                list.Add(t);
            }
            _byName = index;
        }
        return index.TryGetValue(name, out var found) ? found : (IReadOnlyList<BtfType>)System.Array.Empty<BtfType>();
    }

    public BtfType? this[uint id] => id == 0 || id > _types.Count ? null : _types[(int)id - 1];

    public static BtfSpec Parse(ReadOnlySpan<byte> blob)
    {
        static KernelDebugException Bad(string why) => new($"Malformed BTF: {why}.", "BtfMalformed", ErrorCategory.InvalidData);
        if (blob.Length < 24 || BinaryPrimitives.ReadUInt16LittleEndian(blob) != Magic) throw Bad("no BTF magic 0xeb9f (or a big-endian blob)");
        uint hdrLen = BinaryPrimitives.ReadUInt32LittleEndian(blob[4..]);
        uint typeOff = BinaryPrimitives.ReadUInt32LittleEndian(blob[8..]), typeLen = BinaryPrimitives.ReadUInt32LittleEndian(blob[12..]);
        uint strOff = BinaryPrimitives.ReadUInt32LittleEndian(blob[16..]), strLen = BinaryPrimitives.ReadUInt32LittleEndian(blob[20..]);
        if (hdrLen + (ulong)typeOff + typeLen > (ulong)blob.Length || hdrLen + (ulong)strOff + strLen > (ulong)blob.Length) throw Bad("sections run past the end");
        var types = blob.Slice((int)(hdrLen + typeOff), (int)typeLen);
        var strings = blob.Slice((int)(hdrLen + strOff), (int)strLen);

        var stringBytes = strings.ToArray();
        string Str(uint off)
        {
            if (off >= stringBytes.Length) return "";
            var s = stringBytes.AsSpan((int)off);
            int end = s.IndexOf((byte)0);
            return Encoding.UTF8.GetString(end < 0 ? s : s[..end]);
        }

        var list = new List<BtfType>();
        int p = 0;
        while (p + 12 <= types.Length)
        {
            uint nameOff = U32(types, p), info = U32(types, p + 4), sizeOrType = U32(types, p + 8);
            p += 12;
            var kind = (BtfKind)((info >> 24) & 0x1f);
            int vlen = (int)(info & 0xffff);
            bool kflag = (info >> 31) != 0;
            uint id = (uint)list.Count + 1;
            string name = Str(nameOff);
            switch (kind)
            {
                case BtfKind.Int:
                {
                    uint e = U32(types, p); p += 4;
                    uint enc = (e >> 24) & 0x0f;
                    list.Add(new BtfType { Id = id, Kind = kind, Name = name, Size = sizeOrType, Signed = (enc & 1) != 0, IsChar = (enc & 2) != 0, IsBool = (enc & 4) != 0, BitOffset = (int)((e >> 16) & 0xff), Bits = (int)(e & 0xff) });
                    break;
                }
                case BtfKind.Array:
                    list.Add(new BtfType { Id = id, Kind = kind, Name = name, ElementType = U32(types, p), IndexType = U32(types, p + 4), Count = U32(types, p + 8) });
                    p += 12;
                    break;
                case BtfKind.Struct or BtfKind.Union:
                {
                    var members = new BtfMember[vlen];
                    for (int i = 0; i < vlen; i++, p += 12)
                    {
                        uint off = U32(types, p + 8);
                        members[i] = new BtfMember { Name = Str(U32(types, p)), Type = U32(types, p + 4), BitOffset = kflag ? off & 0xffffff : off, BitSize = kflag ? off >> 24 : 0 };
                    }
                    list.Add(new BtfType { Id = id, Kind = kind, Name = name, Size = sizeOrType, KindFlag = kflag, Members = members });
                    break;
                }
                case BtfKind.Enum:
                {
                    var members = new BtfMember[vlen];
                    for (int i = 0; i < vlen; i++, p += 8)
                    {
                        uint raw = U32(types, p + 4);
                        members[i] = new BtfMember { Name = Str(U32(types, p)), Value = kflag ? (int)raw : raw };
                    }
                    list.Add(new BtfType { Id = id, Kind = kind, Name = name, Size = sizeOrType, KindFlag = kflag, Signed = kflag, Members = members });
                    break;
                }
                case BtfKind.Enum64:
                {
                    var members = new BtfMember[vlen];
                    for (int i = 0; i < vlen; i++, p += 12)
                        members[i] = new BtfMember { Name = Str(U32(types, p)), Value = (long)(((ulong)U32(types, p + 8) << 32) | U32(types, p + 4)) };
                    list.Add(new BtfType { Id = id, Kind = kind, Name = name, Size = sizeOrType, KindFlag = kflag, Signed = kflag, Members = members });
                    break;
                }
                case BtfKind.FuncProto:
                {
                    var members = new BtfMember[vlen];
                    for (int i = 0; i < vlen; i++, p += 8) members[i] = new BtfMember { Name = Str(U32(types, p)), Type = U32(types, p + 4) };
                    list.Add(new BtfType { Id = id, Kind = kind, Name = name, Type = sizeOrType, Members = members });
                    break;
                }
                case BtfKind.Var:
                    p += 4;
                    list.Add(new BtfType { Id = id, Kind = kind, Name = name, Type = sizeOrType });
                    break;
                case BtfKind.Datasec:
                {
                    var members = new BtfMember[vlen];
                    for (int i = 0; i < vlen; i++, p += 12) members[i] = new BtfMember { Type = U32(types, p), BitOffset = U32(types, p + 4) * 8, BitSize = U32(types, p + 8) * 8 };
                    list.Add(new BtfType { Id = id, Kind = kind, Name = name, Size = sizeOrType, Members = members });
                    break;
                }
                case BtfKind.DeclTag:
                    p += 4;
                    list.Add(new BtfType { Id = id, Kind = kind, Name = name, Type = sizeOrType });
                    break;
                case BtfKind.Float:
                    list.Add(new BtfType { Id = id, Kind = kind, Name = name, Size = sizeOrType });
                    break;
                case BtfKind.Ptr or BtfKind.Fwd or BtfKind.Typedef or BtfKind.Volatile or BtfKind.Const or BtfKind.Restrict or BtfKind.Func or BtfKind.TypeTag:
                    list.Add(new BtfType { Id = id, Kind = kind, Name = name, Type = sizeOrType, KindFlag = kflag });
                    break;
                default:
                    throw Bad($"unknown kind {(int)kind} at type {id}");
            }
        }
        return new BtfSpec(list);

        static uint U32(ReadOnlySpan<byte> s, int at) => BinaryPrimitives.ReadUInt32LittleEndian(s[at..]);
    }

    /// <summary>Follows typedef, const, volatile, restrict and type tags to the underlying type.</summary>
    public BtfType? Resolve(uint id)
    {
        for (int hops = 0; hops < 64; hops++)
        {
            var t = this[id];
            if (t is null || t.Kind is not (BtfKind.Typedef or BtfKind.Const or BtfKind.Volatile or BtfKind.Restrict or BtfKind.TypeTag)) return t;
            id = t.Type;
        }
        return null;
    }

    /// <summary>The size in bytes of a type (0 when unsized).</summary>
    public ulong SizeOf(uint id)
    {
        var t = Resolve(id);
        return t?.Kind switch
        {
            BtfKind.Int or BtfKind.Struct or BtfKind.Union or BtfKind.Enum or BtfKind.Enum64 or BtfKind.Float or BtfKind.Datasec => t.Size,
            BtfKind.Ptr => 8,
            BtfKind.Array => t.Count * SizeOf(t.ElementType),
            BtfKind.Var => SizeOf(t.Type),
            _ => 0,
        };
    }

    /// <summary>
    /// Decodes bytes as the type: integers as .NET integers of the same width and sign, bool, char arrays as strings,
    /// other arrays as object[], structs and unions as objects with one property per member, enums by enumerator name,
    /// pointers as addresses; bytes for anything without a value (void, forward declarations, functions).
    /// </summary>
    public object? Decode(uint typeId, ReadOnlySpan<byte> data, int depth = 0)
    {
        var t = Resolve(typeId);
        if (t is null || depth > 32) return data.ToArray();
        switch (t.Kind)
        {
            case BtfKind.Int:
                return DecodeInt(t, data, 0, t.Bits);
            case BtfKind.Ptr:
                return data.Length >= 8 ? BinaryPrimitives.ReadUInt64LittleEndian(data) : (object)data.ToArray();
            case BtfKind.Enum or BtfKind.Enum64:
            {
                long v = ReadSigned(data, (int)t.Size, t.Signed);
                var m = t.Members.FirstOrDefault(e => e.Value == v);
                return m is not null ? m.Name : v;
            }
            case BtfKind.Float:
                return t.Size switch { 4 => BinaryPrimitives.ReadSingleLittleEndian(data), 8 => BinaryPrimitives.ReadDoubleLittleEndian(data), _ => data[..(int)t.Size].ToArray() };
            case BtfKind.Array:
            {
                var elem = Resolve(t.ElementType);
                int size = (int)SizeOf(t.ElementType);
                if (elem is { Kind: BtfKind.Int, Size: 1 } && (elem.IsChar || elem.Name is "char" or "signed char" or "unsigned char" && IsText(data[..(int)Math.Min(t.Count, (uint)data.Length)])))
                {
                    var s = data[..(int)Math.Min(t.Count, (uint)data.Length)];
                    int nul = s.IndexOf((byte)0);
                    return Encoding.UTF8.GetString(nul < 0 ? s : s[..nul]);
                }
                var items = new object?[t.Count];
                for (int i = 0; i < items.Length && size > 0 && (i + 1) * size <= data.Length; i++)
                    items[i] = Decode(t.ElementType, data.Slice(i * size, size), depth + 1);
                return items;
            }
            case BtfKind.Struct or BtfKind.Union or BtfKind.Datasec:
            {
                var o = new PSObject();
                o.TypeNames.Insert(0, $"KernelDebug.Btf.{(t.Name.Length > 0 ? t.Name : "anonymous")}");
                AddMembers(o, t, data, depth);
                return o;
            }
            case BtfKind.Var:
                return Decode(t.Type, data, depth + 1);
            default:
                return data.ToArray();
        }
    }

    private void AddMembers(PSObject o, BtfType t, ReadOnlySpan<byte> data, int depth)
    {
        foreach (var m in t.Members)
        {
            var mt = Resolve(m.Type);
            int byteOff = (int)(m.BitOffset / 8);
            object? value;
            if (t.Kind == BtfKind.Datasec)
            {
                var v = this[m.Type];
                value = byteOff + (int)(m.BitSize / 8) <= data.Length ? Decode(m.Type, data.Slice(byteOff, (int)(m.BitSize / 8)), depth + 1) : null;
                o.Properties.Add(new PSNoteProperty(v?.Name ?? $"var{m.Type}", value));
                continue;
            }
            if (m.BitSize != 0 || (mt?.Kind == BtfKind.Int && mt.Bits != mt.Size * 8) || m.BitOffset % 8 != 0)
            {
                // A bitfield: read the bits from the containing bytes.
                int bits = m.BitSize != 0 ? (int)m.BitSize : mt?.Bits ?? 0;
                value = mt?.Kind == BtfKind.Int ? DecodeInt(mt, data, (int)m.BitOffset, bits) : ReadBits(data, (int)m.BitOffset, bits);
            }
            else
            {
                int size = (int)SizeOf(m.Type);
                value = byteOff + size <= data.Length ? Decode(m.Type, data.Slice(byteOff, size), depth + 1) : null;
            }
            if (m.Name.Length == 0 && value is PSObject inner)
            {
                // Anonymous struct/union members are reached by their members' names, as in C.
                foreach (var p in inner.Properties) o.Properties.Add(new PSNoteProperty(p.Name, p.Value));
                continue;
            }
            o.Properties.Add(new PSNoteProperty(m.Name.Length > 0 ? m.Name : $"_{m.BitOffset}", value));
        }
    }

    private static bool IsText(ReadOnlySpan<byte> s)
    {
        int nul = s.IndexOf((byte)0);
        var head = nul < 0 ? s : s[..nul];
        foreach (var b in head) if (b < 0x20 || b > 0x7e) return false;
        return true;
    }

    private static object DecodeInt(BtfType t, ReadOnlySpan<byte> data, int bitOffset, int bits)
    {
        bitOffset += t.BitOffset;
        if (bitOffset == 0 && bits == t.Size * 8 && data.Length >= t.Size)
        {
            if (t.IsBool) return data[0] != 0;
            return (t.Size, t.Signed) switch
            {
                (1, true) => (sbyte)data[0],
                (1, false) => data[0],
                (2, true) => BinaryPrimitives.ReadInt16LittleEndian(data),
                (2, false) => BinaryPrimitives.ReadUInt16LittleEndian(data),
                (4, true) => BinaryPrimitives.ReadInt32LittleEndian(data),
                (4, false) => BinaryPrimitives.ReadUInt32LittleEndian(data),
                (8, true) => BinaryPrimitives.ReadInt64LittleEndian(data),
                (8, false) => BinaryPrimitives.ReadUInt64LittleEndian(data),
                (16, true) => (BigInteger)BinaryPrimitives.ReadInt128LittleEndian(data),
                (16, false) => (BigInteger)BinaryPrimitives.ReadUInt128LittleEndian(data),
                _ => data[..(int)t.Size].ToArray(),
            };
        }
        ulong raw = ReadBits(data, bitOffset, bits);
        if (t.IsBool) return raw != 0;
        if (t.Signed && bits is > 0 and < 64 && (raw & (1UL << (bits - 1))) != 0) raw |= ulong.MaxValue << bits;
        // A bitfield keeps the .NET type of its declared integer type.
        return (t.Size, t.Signed) switch
        {
            (1, true) => (sbyte)raw, (1, false) => (byte)raw, (2, true) => (short)raw, (2, false) => (ushort)raw,
            (4, true) => (int)raw, (4, false) => (uint)raw, (_, true) => (long)raw, _ => raw,
        };
    }

    private static ulong ReadBits(ReadOnlySpan<byte> data, int bitOffset, int bits)
    {
        ulong v = 0;
        for (int i = 0; i < bits && i < 64; i++)
        {
            int bit = bitOffset + i;
            if (bit / 8 >= data.Length) break;
            if ((data[bit / 8] >> (bit % 8) & 1) != 0) v |= 1UL << i;
        }
        return v;
    }

    private static long ReadSigned(ReadOnlySpan<byte> data, int size, bool signed) => size switch
    {
        1 => signed ? (sbyte)data[0] : data[0],
        2 => signed ? BinaryPrimitives.ReadInt16LittleEndian(data) : BinaryPrimitives.ReadUInt16LittleEndian(data),
        4 => signed ? BinaryPrimitives.ReadInt32LittleEndian(data) : BinaryPrimitives.ReadUInt32LittleEndian(data),
        _ => BinaryPrimitives.ReadInt64LittleEndian(data),
    };
}
