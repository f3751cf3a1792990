using System.Collections.ObjectModel;
using System.Linq.Expressions;
using System.Management.Automation;
using System.Reflection;

namespace KernelDebug.Ftrace;

/// <summary>
/// Makes every field of a TraceRecord a property of it in PowerShell (Where-Object prev_pid -eq 1, Select-Object,
/// Format-List) without a note property per record: the record is its own property bag. The record's own properties keep
/// their meaning; a field whose name is one of them, compared case-insensitively (comm of sched_wakeup, a probe argument
/// named name), is also the property &lt;name&gt;_field (comm_field), and always Fields.&lt;name&gt;. A types file cannot name the
/// adapter (it is resolved before the module's assemblies load), so the cmdlets that emit records register it per
/// runspace (TraceRecordTypeData).
/// </summary>
public sealed class TraceRecordAdapter : PSPropertyAdapter
{
    /// <summary>One of TraceRecord's own properties with a compiled getter (reflection's GetValue per record cost more).</summary>
    private sealed class OwnProperty
    {
        public OwnProperty(PropertyInfo info)
        {
            Info = info;
            var record = Expression.Parameter(typeof(TraceRecord));
            Get = Expression.Lambda<Func<TraceRecord, object?>>(Expression.Convert(Expression.Property(record, info), typeof(object)), record).Compile();
        }

        public PropertyInfo Info { get; }
        public Func<TraceRecord, object?> Get { get; }
    }

    private static readonly OwnProperty[] Own = typeof(TraceRecord).GetProperties(BindingFlags.Public | BindingFlags.Instance).Select(p => new OwnProperty(p)).ToArray();
    private static readonly Dictionary<string, OwnProperty> OwnByName = Own.ToDictionary(p => p.Info.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>The suffix of the alternative name of a field that collides with a record property (comm -> comm_field).</summary>
    public const string CollisionSuffix = "_field";

    // The property name of each field, per field-name array (shared by every record of an event): the field's own
    // name, its alternative name when it collides, or null when the alternative collides too (then only Fields has it).
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<string[], string?[]> PropertyNamesOf = new();

    /// <summary>The property name under which field <paramref name="index"/> of <paramref name="fieldNames"/> appears on the record.</summary>
    public static string? FieldPropertyName(string[] fieldNames, int index) => PropertyNames(fieldNames)[index];

    private static string?[] PropertyNames(string[] fieldNames) => PropertyNamesOf.GetValue(fieldNames, names =>
    {
        var taken = new HashSet<string>(names, StringComparer.OrdinalIgnoreCase);
        var result = new string?[names.Length];
        for (int i = 0; i < names.Length; i++)
        {
            if (!OwnByName.ContainsKey(names[i])) { result[i] = names[i]; continue; }
            string alt = names[i] + CollisionSuffix;
            if (!OwnByName.ContainsKey(alt) && taken.Add(alt)) result[i] = alt;
        }
        return result;
    });

    public override Collection<PSAdaptedProperty> GetProperties(object baseObject)
    {
        var r = (TraceRecord)baseObject;
        var list = new Collection<PSAdaptedProperty>();
        var names = PropertyNames(r.FieldNames);
        for (int i = 0; i < names.Length; i++)
            if (names[i] is { } n) list.Add(new PSAdaptedProperty(n, i));
        foreach (var p in Own) list.Add(new PSAdaptedProperty(p.Info.Name, p));
        return list;
    }

    public override PSAdaptedProperty? GetProperty(object baseObject, string propertyName)
    {
        if (OwnByName.TryGetValue(propertyName, out var p)) return new PSAdaptedProperty(p.Info.Name, p);
        var names = PropertyNames(((TraceRecord)baseObject).FieldNames);
        for (int i = 0; i < names.Length; i++)
            if (string.Equals(names[i], propertyName, StringComparison.OrdinalIgnoreCase)) return new PSAdaptedProperty(names[i]!, i);
        return null;
    }

    public override object? GetPropertyValue(PSAdaptedProperty adaptedProperty)
    {
        var r = (TraceRecord)adaptedProperty.BaseObject;
        return adaptedProperty.Tag is OwnProperty p ? p.Get(r) : r.FieldValue((int)adaptedProperty.Tag);
    }

    public override string GetPropertyTypeName(PSAdaptedProperty adaptedProperty)
    {
        if (adaptedProperty.Tag is OwnProperty { Info: var p }) return p.PropertyType.FullName ?? p.PropertyType.Name;
        var v = GetPropertyValue(adaptedProperty);
        return v?.GetType().FullName ?? typeof(object).FullName!;
    }

    public override bool IsGettable(PSAdaptedProperty adaptedProperty) => true;

    public override bool IsSettable(PSAdaptedProperty adaptedProperty) => false;

    public override void SetPropertyValue(PSAdaptedProperty adaptedProperty, object value) =>
        throw new NotSupportedException("Trace records are read-only.");
}
