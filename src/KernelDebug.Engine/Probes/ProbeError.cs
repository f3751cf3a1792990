using System.Management.Automation;
using KernelDebug.Native;

namespace KernelDebug.Probes;

/// <summary>
/// Why a probe definition is refused. The kernel's kinds keep the kernel's names (trace_probe.h ERRORS, as
/// PascalCase) and texts, so a verdict can be compared with the kernel's error_log; the last few are the module's own.
/// </summary>
public enum ProbeErrorKind
{
    FileNotFound, NoRegularFile, BadRefcnt, RefcntOpenBrace, BadRefcntSuffix, BadUprobeOffs, BadMaxactType, BadMaxact,
    MaxactTooBig, BadProbeAddr, NonUniqSymbol, BadRetprobe, NoTracepoint, BadTpName, BadAddrSuffix, NoGroupName,
    GroupTooLong, BadGroupName, NoEventName, EventTooLong, BadEventName, EventExist, RetvalOnProbe, NoRetval,
    BadStackNum, BadArgNum, BadVar, BadRegName, BadMemAddr, BadImm, ImmstrNoClose, FileOnKprobe, BadFileOffs,
    SymOnUprobe, TooManyOps, DerefNeedBrace, BadDerefOffs, DerefOpenBrace, CommCantDeref, BadFetchArg, ArrayNoClose,
    BadArraySuffix, BadArrayNum, ArrayTooBig, BadType, BadString, BadSymstring, BadBitfield, ArgNameTooLong, NoArgName,
    BadArgName, UsedArgName, ArgTooLong, NoArgBody, BadInsnBndry, FailRegProbe, DiffProbeType, DiffArgType, SameProbe,
    NoEventInfo, BadAttachEvent, BadAttachArg, NoEpFilter, NosupBtfarg, NoBtfarg, NoBtfEntry, BadVarArgs, NofentryArgs,
    DoubleArgs, Args2long, Argidx2big, NoPtrStrct, NosupDatArg, BadHyphen, NoBtfField, BadBtfTid, BadType4str,
    NeedStringType, TooManyArgs, TooManyEargs, EventTooBig,

    // The module's own refusals (no kernel counterpart).
    /// <summary>A newline, control character, '#' or ';' that would split or comment the definition.</summary>
    UnsafeCharacter,
    /// <summary>The definition does not start with a probe type the file accepts (p, r, e, f, t, -).</summary>
    UnknownProbeType,
    /// <summary>The probed place is missing or malformed (the kernel refuses these without an error_log entry).</summary>
    BadPlace,
    /// <summary>An ELF or kernel symbol that is not there.</summary>
    SymbolNotFound,
}

public static class ProbeErrors
{
    private static readonly Dictionary<ProbeErrorKind, string> Texts = new()
    {
        [ProbeErrorKind.FileNotFound] = "Failed to find the given file",
        [ProbeErrorKind.NoRegularFile] = "Not a regular file",
        [ProbeErrorKind.BadRefcnt] = "Invalid reference counter offset",
        [ProbeErrorKind.RefcntOpenBrace] = "Reference counter brace is not closed",
        [ProbeErrorKind.BadRefcntSuffix] = "Reference counter has wrong suffix",
        [ProbeErrorKind.BadUprobeOffs] = "Invalid uprobe offset",
        [ProbeErrorKind.BadMaxactType] = "Maxactive is only for function exit",
        [ProbeErrorKind.BadMaxact] = "Invalid maxactive number",
        [ProbeErrorKind.MaxactTooBig] = "Maxactive is too big",
        [ProbeErrorKind.BadProbeAddr] = "Invalid probed address or symbol",
        [ProbeErrorKind.NonUniqSymbol] = "The symbol is not unique",
        [ProbeErrorKind.BadRetprobe] = "Retprobe address must be an function entry",
        [ProbeErrorKind.NoTracepoint] = "Tracepoint is not found",
        [ProbeErrorKind.BadTpName] = "Invalid character in tracepoint name",
        [ProbeErrorKind.BadAddrSuffix] = "Invalid probed address suffix",
        [ProbeErrorKind.NoGroupName] = "Group name is not specified",
        [ProbeErrorKind.GroupTooLong] = "Group name is too long",
        [ProbeErrorKind.BadGroupName] = "Group name must follow the same rules as C identifiers",
        [ProbeErrorKind.NoEventName] = "Event name is not specified",
        [ProbeErrorKind.EventTooLong] = "Event name is too long",
        [ProbeErrorKind.BadEventName] = "Event name must follow the same rules as C identifiers",
        [ProbeErrorKind.EventExist] = "Given group/event name is already used by another event",
        [ProbeErrorKind.RetvalOnProbe] = "$retval is not available on probe",
        [ProbeErrorKind.NoRetval] = "This function returns 'void' type",
        [ProbeErrorKind.BadStackNum] = "Invalid stack number",
        [ProbeErrorKind.BadArgNum] = "Invalid argument number",
        [ProbeErrorKind.BadVar] = "Invalid $-variable specified",
        [ProbeErrorKind.BadRegName] = "Invalid register name",
        [ProbeErrorKind.BadMemAddr] = "Invalid memory address",
        [ProbeErrorKind.BadImm] = "Invalid immediate value",
        [ProbeErrorKind.ImmstrNoClose] = "String is not closed with '\"'",
        [ProbeErrorKind.FileOnKprobe] = "File offset is not available with kprobe",
        [ProbeErrorKind.BadFileOffs] = "Invalid file offset value",
        [ProbeErrorKind.SymOnUprobe] = "Symbol is not available with uprobe",
        [ProbeErrorKind.TooManyOps] = "Dereference is too much nested",
        [ProbeErrorKind.DerefNeedBrace] = "Dereference needs a brace",
        [ProbeErrorKind.BadDerefOffs] = "Invalid dereference offset",
        [ProbeErrorKind.DerefOpenBrace] = "Dereference brace is not closed",
        [ProbeErrorKind.CommCantDeref] = "$comm can not be dereferenced",
        [ProbeErrorKind.BadFetchArg] = "Invalid fetch argument",
        [ProbeErrorKind.ArrayNoClose] = "Array is not closed",
        [ProbeErrorKind.BadArraySuffix] = "Array has wrong suffix",
        [ProbeErrorKind.BadArrayNum] = "Invalid array size",
        [ProbeErrorKind.ArrayTooBig] = "Array number is too big",
        [ProbeErrorKind.BadType] = "Unknown type is specified",
        [ProbeErrorKind.BadString] = "String accepts only memory argument",
        [ProbeErrorKind.BadSymstring] = "Symbol String doesn't accept data/userdata",
        [ProbeErrorKind.BadBitfield] = "Invalid bitfield",
        [ProbeErrorKind.ArgNameTooLong] = "Argument name is too long",
        [ProbeErrorKind.NoArgName] = "Argument name is not specified",
        [ProbeErrorKind.BadArgName] = "Argument name must follow the same rules as C identifiers",
        [ProbeErrorKind.UsedArgName] = "This argument name is already used",
        [ProbeErrorKind.ArgTooLong] = "Argument expression is too long",
        [ProbeErrorKind.NoArgBody] = "No argument expression",
        [ProbeErrorKind.BadInsnBndry] = "Probe point is not an instruction boundary",
        [ProbeErrorKind.FailRegProbe] = "Failed to register probe event",
        [ProbeErrorKind.DiffProbeType] = "Probe type is different from existing probe",
        [ProbeErrorKind.DiffArgType] = "Argument type or name is different from existing probe",
        [ProbeErrorKind.SameProbe] = "There is already the exact same probe event",
        [ProbeErrorKind.NoEventInfo] = "This requires both group and event name to attach",
        [ProbeErrorKind.BadAttachEvent] = "Attached event does not exist",
        [ProbeErrorKind.BadAttachArg] = "Attached event does not have this field",
        [ProbeErrorKind.NoEpFilter] = "No filter rule after 'if'",
        [ProbeErrorKind.NosupBtfarg] = "BTF is not available or not supported",
        [ProbeErrorKind.NoBtfarg] = "This variable is not found at this probe point",
        [ProbeErrorKind.NoBtfEntry] = "No BTF entry for this probe point",
        [ProbeErrorKind.BadVarArgs] = "$arg* must be an independent parameter without name etc.",
        [ProbeErrorKind.NofentryArgs] = "$arg* can be used only on function entry or exit",
        [ProbeErrorKind.DoubleArgs] = "$arg* can be used only once in the parameters",
        [ProbeErrorKind.Args2long] = "$arg* failed because the argument list is too long",
        [ProbeErrorKind.Argidx2big] = "$argN index is too big",
        [ProbeErrorKind.NoPtrStrct] = "This is not a pointer to union/structure.",
        [ProbeErrorKind.NosupDatArg] = "Non pointer structure/union argument is not supported.",
        [ProbeErrorKind.BadHyphen] = "Failed to parse single hyphen. Forgot '>'?",
        [ProbeErrorKind.NoBtfField] = "This field is not found.",
        [ProbeErrorKind.BadBtfTid] = "Failed to get BTF type info.",
        [ProbeErrorKind.BadType4str] = "This type does not fit for string.",
        [ProbeErrorKind.NeedStringType] = "$comm and immediate-string only accepts string type",
        [ProbeErrorKind.TooManyArgs] = "Too many arguments are specified",
        [ProbeErrorKind.TooManyEargs] = "Too many entry arguments specified",
        [ProbeErrorKind.EventTooBig] = "Event too big (too many fields?)",
        [ProbeErrorKind.UnsafeCharacter] = "Newline, control character, '#' or ';' in the definition",
        [ProbeErrorKind.UnknownProbeType] = "Unknown probe type",
        [ProbeErrorKind.BadPlace] = "Missing or malformed probe place",
        [ProbeErrorKind.SymbolNotFound] = "Symbol is not found",
    };

    /// <summary>The kernel's text for a kind (older kernels spell BadVar "valiable"; both map back).</summary>
    public static string Text(ProbeErrorKind kind) => Texts[kind];

    /// <summary>The kernel's identifier: BadRegName → BAD_REG_NAME.</summary>
    public static string KernelName(ProbeErrorKind kind) => kind switch
    {
        ProbeErrorKind.Args2long => "ARGS_2LONG",
        ProbeErrorKind.Argidx2big => "ARGIDX_2BIG",
        ProbeErrorKind.BadType4str => "BAD_TYPE4STR",
        _ => string.Concat(kind.ToString().Select((c, i) => i > 0 && char.IsUpper(c) ? "_" + c : c.ToString())).ToUpperInvariant(),
    };

    /// <summary>The kind whose kernel text this is, or null (for reading error_log).</summary>
    public static ProbeErrorKind? FromText(string text)
    {
        text = text.Trim();
        if (text == "Invalid $-valiable specified") return ProbeErrorKind.BadVar;
        if (text == "Maxactive is not for kprobe") return ProbeErrorKind.BadMaxactType;
        foreach (var (k, v) in Texts)
            if (v == text) return k;
        return null;
    }
}

/// <summary>A refused probe definition: the kind, the kernel's text, and the 0-based column of the caret in Command.</summary>
public sealed record ProbeSyntaxError(ProbeErrorKind Kind, string Message, int Position, string Command)
{
    public string KernelName => ProbeErrors.KernelName(Kind);

    /// <summary>The command and a caret line under it, as error_log shows them.</summary>
    public string CaretText => $"{Command}\n{new string(' ', Math.Max(0, Position))}^";

    public override string ToString() => $"{Message} ({KernelName}) at column {Position}:\n{CaretText}";

    public KernelDebugException ToException(string source = "validation")
    {
        var category = Kind switch
        {
            ProbeErrorKind.FileNotFound or ProbeErrorKind.SymbolNotFound or ProbeErrorKind.BadAttachEvent or ProbeErrorKind.NoTracepoint
                or ProbeErrorKind.BadAttachArg => ErrorCategory.ObjectNotFound,
            ProbeErrorKind.EventExist or ProbeErrorKind.SameProbe => ErrorCategory.ResourceExists,
            ProbeErrorKind.TooManyArgs or ProbeErrorKind.EventTooBig or ProbeErrorKind.ArrayTooBig or ProbeErrorKind.MaxactTooBig
                or ProbeErrorKind.TooManyEargs => ErrorCategory.LimitsExceeded,
            _ => ErrorCategory.InvalidArgument,
        };
        return new KernelDebugException($"The probe definition was refused ({source}): {this}", "Probe" + Kind, category)
        {
            Position = Position,
            Target = Command,
        };
    }
}
