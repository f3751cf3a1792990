using System.Globalization;
using System.Text.RegularExpressions;

namespace KernelDebug;

/// <summary>How a trace event field is laid out in the record.</summary>
public enum TraceFieldKind
{
    /// <summary>A number (or pointer) of Size bytes at Offset.</summary>
    Scalar,
    /// <summary>A fixed array (char comm[16], u8 addr[4]) of Size bytes at Offset.</summary>
    Array,
    /// <summary>A flexible array at the end of the record (char buf[]), up to the record's end.</summary>
    FlexibleArray,
    /// <summary>__data_loc: a u32 at Offset, low 16 bits the offset from the record start, high 16 bits the length.</summary>
    DataLocation,
    /// <summary>__rel_loc: like __data_loc, but the offset is from the end of this field.</summary>
    RelativeLocation,
}

/// <summary>One field of a trace event, parsed from its format file.</summary>
public sealed class TraceEventField
{
    public string Name { get; init; } = "";
    /// <summary>The C type as the format file gives it, without the array suffix (e.g. "char", "__data_loc char[]", "const char *").</summary>
    public string Type { get; init; } = "";
    public int Offset { get; init; }
    public int Size { get; init; }
    public bool Signed { get; init; }
    public TraceFieldKind Kind { get; init; }
    /// <summary>Elements of a fixed array; 0 for other kinds.</summary>
    public int ArrayLength { get; init; }
    /// <summary>Size of one element (for arrays and __data_loc arrays); Size for scalars.</summary>
    public int ElementSize { get; init; }
    /// <summary>True for the common_* header fields every event carries.</summary>
    public bool IsCommon { get; init; }
    /// <summary>True when the field holds text: char arrays and __data_loc char[].</summary>
    public bool IsString { get; init; }

    public override string ToString() => Kind switch
    {
        TraceFieldKind.Array => $"{Type} {Name}[{ArrayLength}]",
        TraceFieldKind.FlexibleArray => $"{Type} {Name}[]",
        _ => $"{Type} {Name}",
    };
}

/// <summary>A trace event's format file: id, fields and print format. Parse with <see cref="Parse"/>.</summary>
public sealed class TraceEventFormat
{
    public string System { get; init; } = "";
    public string Name { get; init; } = "";
    public int Id { get; init; }
    /// <summary>All fields in file order, the common_* ones first.</summary>
    public IReadOnlyList<TraceEventField> AllFields { get; init; } = Array.Empty<TraceEventField>();
    /// <summary>The event's own fields (without common_*), in file order.</summary>
    public IReadOnlyList<TraceEventField> Fields { get; init; } = Array.Empty<TraceEventField>();
    public string PrintFormat { get; init; } = "";
    /// <summary>The format file as the kernel printed it (what a trace.dat stores).</summary>
    public string Text { get; init; } = "";

    public string FullName => $"{System}:{Name}";

    /// <summary>Field names of <see cref="Fields"/>, shared by every record of this event.</summary>
    public string[] FieldNames { get; private set; } = Array.Empty<string>();

    /// <summary>Indexes into Fields of (xxx_comm, xxx_pid) pairs, from which the decoder learns comms.</summary>
    internal (int Comm, int Pid)[] CommPidPairs { get; private set; } = Array.Empty<(int, int)>();

    internal TraceEventField[] FieldArray { get; private set; } = Array.Empty<TraceEventField>();

    internal TraceEventField? CommonPid, CommonFlags, CommonPreemptCount, CommonType;

    private static readonly Regex FieldLine = new(
        @"^\s*field(?: special)?:(?<decl>[^;]*);\s*offset:(?<offset>\d+);\s*size:(?<size>\d+);(?:\s*signed:(?<signed>-?\d+);)?",
        RegexOptions.Compiled | RegexOptions.CultureInvariant);

    private static readonly Regex ArraySuffix = new(@"^(?<name>[A-Za-z_][A-Za-z0-9_]*)\[(?<len>[^\]]*)\]$", RegexOptions.Compiled);

    /// <summary>Parses the text of events/&lt;system&gt;/&lt;event&gt;/format. The system is not in the file, so it is passed in.</summary>
    public static TraceEventFormat Parse(string system, string text)
    {
        string name = "";
        int id = 0;
        string print = "";
        var fields = new List<TraceEventField>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.StartsWith("name:", StringComparison.Ordinal)) name = line[5..].Trim();
            else if (line.StartsWith("ID:", StringComparison.Ordinal)) int.TryParse(line[3..].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out id);
            else if (line.StartsWith("print fmt:", StringComparison.Ordinal)) print = line[10..].Trim();
            else
            {
                var m = FieldLine.Match(line);
                if (m.Success) fields.Add(ParseField(m, fields.Count == 0 || fields.All(f => f.IsCommon)));
            }
        }
        var own = fields.Where(f => !f.IsCommon).ToList();
        var format = new TraceEventFormat
        {
            System = system, Name = name, Id = id, AllFields = fields, Fields = own, PrintFormat = print, Text = text,
        };
        format.FieldNames = own.Select(f => f.Name).ToArray();
        format.FieldArray = own.ToArray();
        var pairs = new List<(int, int)>();
        for (int i = 0; i < own.Count; i++)
        {
            if (!own[i].IsString || !own[i].Name.EndsWith("comm", StringComparison.Ordinal)) continue;
            var pidName = own[i].Name[..^4] + "pid";
            int j = own.FindIndex(f => f.Name == pidName && f.Kind == TraceFieldKind.Scalar && f.Size == 4);
            if (j >= 0) pairs.Add((i, j));
        }
        format.CommPidPairs = pairs.ToArray();
        format.CommonPid = fields.FirstOrDefault(f => f.Name == "common_pid");
        format.CommonFlags = fields.FirstOrDefault(f => f.Name == "common_flags");
        format.CommonPreemptCount = fields.FirstOrDefault(f => f.Name == "common_preempt_count");
        format.CommonType = fields.FirstOrDefault(f => f.Name == "common_type");
        return format;
    }

    private static TraceEventField ParseField(Match m, bool maybeCommon)
    {
        var decl = m.Groups["decl"].Value.Trim();
        int offset = int.Parse(m.Groups["offset"].Value, CultureInfo.InvariantCulture);
        int size = int.Parse(m.Groups["size"].Value, CultureInfo.InvariantCulture);
        bool signed = m.Groups["signed"].Success && m.Groups["signed"].Value == "1";

        // The name is the last token; an array suffix sits on the name ("char comm[16]") or on the type ("__data_loc char[] name").
        int cut = decl.LastIndexOfAny(new[] { ' ', '*', '\t' });
        string type = cut < 0 ? "" : decl[..(cut + 1)].Trim();
        string name = cut < 0 ? decl : decl[(cut + 1)..];
        var kind = TraceFieldKind.Scalar;
        int length = 0;

        var am = ArraySuffix.Match(name);
        if (am.Success)
        {
            name = am.Groups["name"].Value;
            var len = am.Groups["len"].Value;
            if (len.Length == 0 || size == 0) kind = TraceFieldKind.FlexibleArray;
            else
            {
                kind = TraceFieldKind.Array;
                if (!int.TryParse(len, NumberStyles.Integer, CultureInfo.InvariantCulture, out length)) length = 0;
            }
        }
        if (type.StartsWith("__data_loc", StringComparison.Ordinal)) kind = TraceFieldKind.DataLocation;
        else if (type.StartsWith("__rel_loc", StringComparison.Ordinal)) kind = TraceFieldKind.RelativeLocation;

        string elementType = type;
        foreach (var prefix in new[] { "__data_loc", "__rel_loc" })
            if (elementType.StartsWith(prefix, StringComparison.Ordinal)) elementType = elementType[prefix.Length..].Trim();
        if (elementType.EndsWith("[]", StringComparison.Ordinal)) elementType = elementType[..^2].Trim();

        int elementSize = kind switch
        {
            TraceFieldKind.Array when length > 0 => size / length,
            TraceFieldKind.Scalar => size,
            _ => CTypeSize(elementType),
        };
        if (kind == TraceFieldKind.Array && length == 0) { elementSize = CTypeSize(elementType); length = elementSize > 0 ? size / elementSize : size; }
        bool isString = kind != TraceFieldKind.Scalar && IsCharType(elementType);
        return new TraceEventField
        {
            Name = name, Type = type, Offset = offset, Size = size, Signed = signed, Kind = kind, ArrayLength = length,
            ElementSize = elementSize <= 0 ? 1 : elementSize, IsCommon = maybeCommon && name.StartsWith("common_", StringComparison.Ordinal),
            IsString = isString,
        };
    }

    private static bool IsCharType(string t)
    {
        // Plain char only: unsigned char and u8 arrays are bytes (addresses, hashes), not text.
        return t.Replace("const ", "").Trim() == "char";
    }

    /// <summary>Sizes of the element types that appear in arrays without a size of their own (flexible and __data_loc arrays).</summary>
    private static int CTypeSize(string t)
    {
        t = t.Replace("const ", "").Replace("volatile ", "").Trim();
        if (t.EndsWith('*')) return 8;
        return t switch
        {
            "char" or "unsigned char" or "signed char" or "u8" or "s8" or "__u8" or "__s8" or "bool" or "_Bool" => 1,
            "short" or "unsigned short" or "u16" or "s16" or "__u16" or "__s16" or "__le16" or "__be16" => 2,
            "int" or "unsigned int" or "unsigned" or "u32" or "s32" or "__u32" or "__s32" or "pid_t" or "__le32" or "__be32" or "gfp_t" => 4,
            "long" or "unsigned long" or "long long" or "unsigned long long" or "u64" or "s64" or "__u64" or "__s64" or "size_t" or "loff_t" or "__le64" or "__be64" => 8,
            _ => 1,
        };
    }

    public override string ToString() => FullName;
}
