using System.Buffers.Binary;
using System.Management.Automation;
using KernelDebug.Native;

namespace KernelDebug.Bpf;

/// <summary>enum bpf_core_relo_kind (include/uapi/linux/bpf.h).</summary>
public enum BpfCoreKind
{
    FieldByteOffset = 0, FieldByteSize = 1, FieldExists = 2, FieldSigned = 3, FieldLShiftU64 = 4, FieldRShiftU64 = 5,
    TypeIdLocal = 6, TypeIdTarget = 7, TypeExists = 8, TypeSize = 9, EnumValueExists = 10, EnumValue = 11, TypeMatches = 12,
}

/// <summary>
/// Compile Once, Run Everywhere: computes what a relocation's instruction must hold on the target kernel, by matching the
/// local type (with its ___flavour suffix dropped) against the kernel's BTF by name and walking the access string
/// there by member name. A relocation that cannot be satisfied poisons its instruction (a call to a helper that does
/// not exist), so the verifier rejects the program only if that instruction can run, as libbpf does.
/// </summary>
public sealed class BpfCoreRelocator
{
    private const int Poison = 0xbad2310;
    private readonly BtfSpec _local, _target;

    public BpfCoreRelocator(BtfSpec local, BtfSpec target)
    {
        _local = local;
        _target = target;
    }

    private static readonly Lazy<BtfSpec?> Vmlinux = new(() =>
    {
        try { return File.Exists("/sys/kernel/btf/vmlinux") ? BtfSpec.Parse(File.ReadAllBytes("/sys/kernel/btf/vmlinux")) : null; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    });

    /// <summary>The running kernel's BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF), parsed once; null without it.</summary>
    public static BtfSpec? KernelBtf => Vmlinux.Value;

    /// <summary>The essential name: without a ___flavour suffix.</summary>
    public static string Essential(string name)
    {
        int i = name.LastIndexOf("___", StringComparison.Ordinal);
        return i > 0 ? name[..i] : name;
    }

    private List<BtfType> Candidates(BtfType local)
    {
        var list = _target.Named(Essential(local.Name));
        bool enumLike = local.Kind is BtfKind.Enum or BtfKind.Enum64;
        return list.Where(t => t.Kind == local.Kind || (enumLike && t.Kind is BtfKind.Enum or BtfKind.Enum64)
            || (local.Kind is BtfKind.Struct or BtfKind.Union && t.Kind == BtfKind.Fwd && false)).ToList();
    }

    /// <summary>The value for one relocation; null when it cannot be satisfied (the instruction is poisoned).</summary>
    public ulong? Resolve(uint localTypeId, string access, BpfCoreKind kind)
    {
        var local = _local[localTypeId] ?? throw Invalid($"type id {localTypeId} is not in the object's BTF");
        if (kind == BpfCoreKind.TypeIdLocal) return localTypeId;
        if (local.Name.Length == 0) throw Invalid($"relocation against an anonymous {local.Kind} (type {localTypeId})");
        var cands = Candidates(local);
        switch (kind)
        {
            case BpfCoreKind.TypeExists or BpfCoreKind.TypeMatches:
                return cands.Count > 0 ? 1UL : 0UL;
            case BpfCoreKind.TypeIdTarget:
                return cands.Count > 0 ? cands[0].Id : null;
            case BpfCoreKind.TypeSize:
                return cands.Count > 0 ? _target.SizeOf(cands[0].Id) : null;
            case BpfCoreKind.EnumValueExists or BpfCoreKind.EnumValue:
            {
                var le = _local.Resolve(localTypeId);
                int idx = int.Parse(access.Split(':')[0], System.Globalization.CultureInfo.InvariantCulture);
                if (le is null || idx >= le.Members.Length) throw Invalid($"enumerator {idx} of {local.Name}");
                string name = Essential(le.Members[idx].Name);
                foreach (var c in cands)
                {
                    var te = _target.Resolve(c.Id)!;
                    var m = te.Members.FirstOrDefault(x => Essential(x.Name) == name);
                    if (m is not null) return kind == BpfCoreKind.EnumValueExists ? 1UL : (ulong)m.Value;
                }
                return kind == BpfCoreKind.EnumValueExists ? 0UL : null;
            }
        }
        // Field relocations.
        var idxs = access.Split(':').Select(s => int.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var named = LocalSpec(localTypeId, idxs);
        foreach (var c in cands)
        {
            var r = TargetField(c.Id, idxs[0], named);
            if (r is null) continue;
            var (bitOff, bitSize, typeId) = r.Value;
            return kind switch
            {
                BpfCoreKind.FieldExists => 1,
                _ => FieldValue(kind, bitOff, bitSize, typeId),
            };
        }
        return kind == BpfCoreKind.FieldExists ? 0UL : null;
    }

    private static KernelDebugException Invalid(string why) => new($"Invalid CO-RE relocation: {why}.", "BpfCoreInvalid", ErrorCategory.InvalidData);

    // The local access path as (member name or null for an array index, index, the field's type kind), root index excluded.
    private List<(string? Name, int Index, BtfType? Type)> LocalSpec(uint root, int[] idxs)
    {
        var list = new List<(string?, int, BtfType?)>();
        var t = _local.Resolve(root);
        for (int i = 1; i < idxs.Length; i++)
        {
            if (t is { Kind: BtfKind.Struct or BtfKind.Union })
            {
                if (idxs[i] >= t.Members.Length) throw Invalid($"member {idxs[i]} of {t.Name}");
                var m = t.Members[idxs[i]];
                t = _local.Resolve(m.Type);
                if (m.Name.Length > 0) list.Add((m.Name, idxs[i], t));
            }
            else if (t is { Kind: BtfKind.Array })
            {
                list.Add((null, idxs[i], _local.Resolve(t.ElementType)));
                t = _local.Resolve(t.ElementType);
            }
            else throw Invalid($"access {string.Join(':', idxs)} steps into a {t?.Kind}");
        }
        return list;
    }

    private (ulong BitOff, uint BitSize, uint Type)? TargetField(uint root, int rootIndex, List<(string? Name, int Index, BtfType? Type)> spec)
    {
        var t = _target.Resolve(root);
        if (t is null) return null;
        ulong bitOff = (ulong)rootIndex * _target.SizeOf(t.Id) * 8;
        uint bitSize = 0, typeId = t.Id;
        foreach (var (name, index, localType) in spec)
        {
            if (name is null)
            {
                if (t is not { Kind: BtfKind.Array }) return null;
                if (t.Count != 0 && index >= t.Count) return null;
                typeId = t.ElementType;
                bitOff += (ulong)index * _target.SizeOf(typeId) * 8;
                bitSize = 0;
            }
            else
            {
                if (t is not { Kind: BtfKind.Struct or BtfKind.Union }) return null;
                var found = FindMember(t, name, 0);
                if (found is null) return null;
                bitOff += found.Value.BitOff;
                bitSize = found.Value.Member.BitSize;
                typeId = found.Value.Member.Type;
            }
            t = _target.Resolve(typeId);
            if (t is null || !Compatible(localType, t)) return null;
        }
        return (bitOff, bitSize, typeId);
    }

    // A member by name, looking into anonymous struct and union members as C does.
    private (ulong BitOff, BtfMember Member)? FindMember(BtfType t, string name, int depth)
    {
        if (depth > 32) return null;
        foreach (var m in t.Members)
        {
            if (m.Name == name) return (m.BitOffset, m);
            if (m.Name.Length == 0 && _target.Resolve(m.Type) is { Kind: BtfKind.Struct or BtfKind.Union } inner
                && FindMember(inner, name, depth + 1) is { } deeper)
                return (m.BitOffset + deeper.BitOff, deeper.Member);
        }
        return null;
    }

    private static bool Compatible(BtfType? local, BtfType target)
    {
        if (local is null) return true;
        static int Class(BtfKind k) => k switch
        {
            BtfKind.Int or BtfKind.Enum or BtfKind.Enum64 or BtfKind.Float => 1,
            BtfKind.Struct or BtfKind.Union or BtfKind.Fwd => 2,
            BtfKind.Ptr => 3,
            BtfKind.Array => 4,
            _ => 5,
        };
        return Class(local.Kind) == Class(target.Kind);
    }

    private ulong? FieldValue(BpfCoreKind kind, ulong bitOff, uint bitSize, uint typeId)
    {
        var t = _target.Resolve(typeId);
        ulong size = _target.SizeOf(typeId);
        bool bitfield = bitSize != 0 || (t is { Kind: BtfKind.Int } && t.Bits != (int)t.Size * 8);
        if (bitfield && bitSize == 0) bitSize = (uint)(t?.Bits ?? 0);
        ulong byteOff = bitOff / 8, byteSize = size;
        if (bitfield)
        {
            // The smallest naturally aligned load that holds the bits (libbpf's rule).
            byteSize = size == 0 ? 1 : size;
            byteOff = bitOff / 8 / byteSize * byteSize;
            while (bitOff + bitSize - byteOff * 8 > byteSize * 8)
            {
                if (byteSize >= 8) return null;
                byteSize *= 2;
                byteOff = bitOff / 8 / byteSize * byteSize;
            }
        }
        return kind switch
        {
            BpfCoreKind.FieldByteOffset => byteOff,
            BpfCoreKind.FieldByteSize => byteSize,
            BpfCoreKind.FieldSigned => t is { Kind: BtfKind.Int, Signed: true } || t is { Kind: BtfKind.Enum or BtfKind.Enum64, Signed: true } ? 1UL : 0UL,
            BpfCoreKind.FieldLShiftU64 => bitfield ? 64 - (bitOff + bitSize - byteOff * 8) : 64 - byteSize * 8,
            BpfCoreKind.FieldRShiftU64 => bitfield ? 64UL - bitSize : 64 - byteSize * 8,
            _ => null,
        };
    }

    /// <summary>Writes the value into the instruction (immediate, offset, or both halves of a 64-bit load), or poisons it.</summary>
    internal static void Patch(byte[] insns, int k, ulong? value, string what)
    {
        var span = insns.AsSpan(k * 8);
        byte code = span[0];
        if (value is null)
        {
            Poison1(span);
            if (code == 0x18 && insns.Length >= (k + 2) * 8) Poison1(insns.AsSpan((k + 1) * 8));
            return;
        }
        int cls = code & 7;
        switch (cls)
        {
            case 4 or 7 when (code & 0x08) == 0: // ALU/ALU64 with an immediate
                BinaryPrimitives.WriteInt32LittleEndian(span[4..], (int)value.Value);
                break;
            case 1 or 2 or 3: // LDX, ST, STX: the offset
                if (value.Value > (ulong)short.MaxValue) throw Invalid($"{what}: offset {value} does not fit an instruction");
                BinaryPrimitives.WriteInt16LittleEndian(span[2..], (short)value.Value);
                break;
            case 0 when code == 0x18:
                BinaryPrimitives.WriteUInt32LittleEndian(span[4..], (uint)value.Value);
                BinaryPrimitives.WriteUInt32LittleEndian(insns.AsSpan((k + 1) * 8 + 4), (uint)(value.Value >> 32));
                break;
            default:
                throw Invalid($"{what}: instruction {k} (opcode 0x{code:x2}) cannot take a relocated value");
        }

        static void Poison1(Span<byte> s)
        {
            s[0] = 0x85; s[1] = 0;
            BinaryPrimitives.WriteInt16LittleEndian(s[2..], 0);
            BinaryPrimitives.WriteInt32LittleEndian(s[4..], Poison);
        }
    }
}
