using System.Management.Automation;
using KernelDebug.Native;

namespace KernelDebug;

/// <summary>
/// Why a hist trigger definition is refused. The kernel's kinds keep the kernel's names (trace_events_hist.c ERRORS,
/// as PascalCase) so a verdict of the validator and an error_log entry compare; the last few are the module's own.
/// </summary>
public enum HistErrorKind
{
    None, DuplicateVar, VarNotUnique, TooManyVars, MalformedAssignment, NamedMismatch, TriggerEexist, TriggerEnoentClear,
    SetClockFail, BadFieldModifier, TooManySubexpr, TimestampMismatch, TooManyFieldVars, EventFileNotFound, HistNotFound,
    HistCreateFail, SynthVarNotFound, SynthEventNotFound, SynthTypeMismatch, SynthCountMismatch, FieldVarParseFail,
    VarCreateFindFail, OnxNotVar, OnxVarNotFound, OnxVarCreateFail, FieldVarCreateFail, TooManyParams, ParamNotFound,
    InvalidParam, ActionNotFound, NoSaveParams, TooManySaveActions, ActionMismatch, NoClosingParen, SubsysNotFound,
    InvalidSubsysEvent, InvalidRefKey, VarNotFound, FieldNotFound, EmptyAssignment, InvalidSortModifier, EmptySortField,
    TooManySortFields, InvalidSortField, InvalidStrOperand, ExpectNumber, UnaryMinusSubexpr, DivisionByZero, NeedNohcVal,

    // The module's own refusals (the kernel refuses these with EINVAL and no error_log entry, or not at all).
    /// <summary>A newline, control character or ':' that would split the definition.</summary>
    UnsafeCharacter,
    /// <summary>No key, or more than the kernel's 3 (TRACING_MAP_KEYS_MAX).</summary>
    BadKeyCount,
    /// <summary>A size outside 65..131072 entries (rounded up: TRACING_MAP_BITS_MIN..MAX).</summary>
    BadSize,
    /// <summary>A name the module makes that is not a C identifier with the kerneldebug prefix.</summary>
    BadName,
}

/// <summary>A hist trigger's parts, as New-TraceHistogram takes them.</summary>
public sealed class HistTriggerSpec
{
    /// <summary>Key fields with modifiers: next_pid.execname, bytes_req.log2, call_site.sym, lat.buckets=10, stacktrace.</summary>
    public IReadOnlyList<string> Keys { get; init; } = Array.Empty<string>();
    /// <summary>Value fields (summed per bucket); hitcount is always there.</summary>
    public IReadOnlyList<string> Values { get; init; } = Array.Empty<string>();
    /// <summary>Up to two sort keys, each a key or value name with .ascending/.descending.</summary>
    public IReadOnlyList<string> Sort { get; init; } = Array.Empty<string>();
    /// <summary>Variables, 'name=expression' (ts0=common_timestamp.usecs, lat=common_timestamp.usecs-$ts0).</summary>
    public IReadOnlyList<string> Variables { get; init; } = Array.Empty<string>();
    /// <summary>Handler.action pairs: onmax($lat).save(prev_comm), onmatch(sched.sched_waking).trace(synth,$lat), onchange($x).snapshot().</summary>
    public IReadOnlyList<string> Actions { get; init; } = Array.Empty<string>();
    public int? Size { get; init; }
    public string? Filter { get; init; }
    /// <summary>A named trigger (name=): triggers of the same name on several events share one table.</summary>
    public string? Name { get; init; }
    /// <summary>Made paused (:pause): it counts nothing until Resume-TraceHistogram.</summary>
    public bool Paused { get; init; }
}

/// <summary>A refused hist trigger: the kind, the kernel's text, and the 0-based column in Command (as error_log's caret).</summary>
public sealed record HistSyntaxError(HistErrorKind Kind, string Message, int Position, string Command)
{
    public string KernelName => HistErrors.KernelName(Kind);

    public string CaretText => $"{Command}\n{new string(' ', Math.Max(0, Position))}^";

    public override string ToString() => $"{Message} ({KernelName}) at column {Position}:\n{CaretText}";

    public KernelDebugException ToException(string source = "validation")
    {
        var category = Kind switch
        {
            HistErrorKind.FieldNotFound or HistErrorKind.VarNotFound or HistErrorKind.SynthEventNotFound or HistErrorKind.InvalidSubsysEvent
                or HistErrorKind.EventFileNotFound or HistErrorKind.HistNotFound or HistErrorKind.TriggerEnoentClear
                or HistErrorKind.OnxVarNotFound or HistErrorKind.ParamNotFound or HistErrorKind.SynthVarNotFound => ErrorCategory.ObjectNotFound,
            HistErrorKind.TriggerEexist or HistErrorKind.DuplicateVar => ErrorCategory.ResourceExists,
            HistErrorKind.TooManyVars or HistErrorKind.TooManySortFields or HistErrorKind.TooManyFieldVars or HistErrorKind.TooManyParams
                or HistErrorKind.TooManySaveActions or HistErrorKind.TooManySubexpr or HistErrorKind.BadKeyCount => ErrorCategory.LimitsExceeded,
            _ => ErrorCategory.InvalidArgument,
        };
        return new KernelDebugException($"The hist trigger was refused ({source}): {this}", "Hist" + Kind, category)
        {
            Position = Position,
            Target = Command,
        };
    }
}

/// <summary>The kernel's texts for the hist error kinds.</summary>
public static class HistErrors
{
    private static readonly Dictionary<HistErrorKind, string> Texts = new()
    {
        [HistErrorKind.None] = "No error",
        [HistErrorKind.DuplicateVar] = "Variable already defined",
        [HistErrorKind.VarNotUnique] = "Variable name not unique, need to use fully qualified name (subsys.event.var) for variable",
        [HistErrorKind.TooManyVars] = "Too many variables defined",
        [HistErrorKind.MalformedAssignment] = "Malformed assignment",
        [HistErrorKind.NamedMismatch] = "Named hist trigger doesn't match existing named trigger (includes variables)",
        [HistErrorKind.TriggerEexist] = "Hist trigger already exists",
        [HistErrorKind.TriggerEnoentClear] = "Can't clear or continue a nonexistent hist trigger",
        [HistErrorKind.SetClockFail] = "Couldn't set trace_clock",
        [HistErrorKind.BadFieldModifier] = "Invalid field modifier",
        [HistErrorKind.TooManySubexpr] = "Too many subexpressions (3 max)",
        [HistErrorKind.TimestampMismatch] = "Timestamp units in expression don't match",
        [HistErrorKind.TooManyFieldVars] = "Too many field variables defined",
        [HistErrorKind.EventFileNotFound] = "Event file not found",
        [HistErrorKind.HistNotFound] = "Matching event histogram not found",
        [HistErrorKind.HistCreateFail] = "Couldn't create histogram for field",
        [HistErrorKind.SynthVarNotFound] = "Couldn't find synthetic variable",
        [HistErrorKind.SynthEventNotFound] = "Couldn't find synthetic event",
        [HistErrorKind.SynthTypeMismatch] = "Param type doesn't match synthetic event field type",
        [HistErrorKind.SynthCountMismatch] = "Param count doesn't match synthetic event field count",
        [HistErrorKind.FieldVarParseFail] = "Couldn't parse field variable",
        [HistErrorKind.VarCreateFindFail] = "Couldn't create or find variable",
        [HistErrorKind.OnxNotVar] = "For onmax(x) or onchange(x), x must be a variable",
        [HistErrorKind.OnxVarNotFound] = "Couldn't find onmax or onchange variable",
        [HistErrorKind.OnxVarCreateFail] = "Couldn't create onmax or onchange variable",
        [HistErrorKind.FieldVarCreateFail] = "Couldn't create field variable",
        [HistErrorKind.TooManyParams] = "Too many action params",
        [HistErrorKind.ParamNotFound] = "Couldn't find param",
        [HistErrorKind.InvalidParam] = "Invalid action param",
        [HistErrorKind.ActionNotFound] = "No action found",
        [HistErrorKind.NoSaveParams] = "No params found for save()",
        [HistErrorKind.TooManySaveActions] = "Can't have more than one save() action per hist",
        [HistErrorKind.ActionMismatch] = "Handler doesn't support action",
        [HistErrorKind.NoClosingParen] = "No closing paren found",
        [HistErrorKind.SubsysNotFound] = "Missing subsystem",
        [HistErrorKind.InvalidSubsysEvent] = "Invalid subsystem or event name",
        [HistErrorKind.InvalidRefKey] = "Using variable references in keys not supported",
        [HistErrorKind.VarNotFound] = "Couldn't find variable",
        [HistErrorKind.FieldNotFound] = "Couldn't find field",
        [HistErrorKind.EmptyAssignment] = "Empty assignment",
        [HistErrorKind.InvalidSortModifier] = "Invalid sort modifier",
        [HistErrorKind.EmptySortField] = "Empty sort field",
        [HistErrorKind.TooManySortFields] = "Too many sort fields (Max = 2)",
        [HistErrorKind.InvalidSortField] = "Sort field must be a key or a val",
        [HistErrorKind.InvalidStrOperand] = "String type can not be an operand in expression",
        [HistErrorKind.ExpectNumber] = "Expecting numeric literal",
        [HistErrorKind.UnaryMinusSubexpr] = "Unary minus not supported in sub-expressions",
        [HistErrorKind.DivisionByZero] = "Division by zero",
        [HistErrorKind.NeedNohcVal] = "Non-hitcount value is required for 'nohitcount'",
        [HistErrorKind.UnsafeCharacter] = "Newline, control character or ':' inside a part of the definition",
        [HistErrorKind.BadKeyCount] = "A hist trigger has 1 to 3 keys",
        [HistErrorKind.BadSize] = "Size must be 65 to 131072 entries (the kernel rounds it up to a power of 2, 128 at least)",
        [HistErrorKind.BadName] = "Names are C identifiers",
    };

    public static string Text(HistErrorKind kind) => Texts[kind];

    /// <summary>The kernel's identifier: FieldNotFound → FIELD_NOT_FOUND.</summary>
    public static string KernelName(HistErrorKind kind) =>
        string.Concat(kind.ToString().Select((c, i) => i > 0 && char.IsUpper(c) ? "_" + c : c.ToString())).ToUpperInvariant();

    /// <summary>The kind whose kernel text this is, or null.</summary>
    public static HistErrorKind? FromText(string text)
    {
        text = text.Trim();
        foreach (var (k, v) in Texts)
            if (v == text && k < HistErrorKind.UnsafeCharacter) return k;
        return null;
    }
}
