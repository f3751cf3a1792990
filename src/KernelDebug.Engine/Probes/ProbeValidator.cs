namespace KernelDebug.Probes;

/// <summary>The control file a definition is written to; dynamic_events takes every kind.</summary>
public enum ProbeEventsFile { KprobeEvents, UprobeEvents, DynamicEvents }

/// <summary>
/// Parses a probe definition the way the kernel does (kernel/trace/trace_probe.c, trace_kprobe.c, trace_uprobe.c,
/// trace_eprobe.c, trace_fprobe.c) and returns the first error with the kernel's kind and caret column, or null.
/// The column is counted in the command as the kernel rebuilds it (the words joined by single spaces), as error_log shows it.
/// </summary>
public static class ProbeValidator
{
    public const int MaxTraceArgs = 128;
    public const int MaxArgStringLength = 63;
    public const int MaxArrayLength = 64;
    public const int MaxArgNameLength = 32;
    /// <summary>Group and event names: at most 63 characters (MAX_EVENT_NAME_LEN 64 with its terminating NUL).</summary>
    public const int MaxEventNameLength = 63;
    public const int MaxKretprobeMaxActive = 4096;
    private const int FetchInsnMax = 16;
    private const ulong ParamMaxStack = 16384 / 8; // THREAD_SIZE / sizeof(long) on 64-bit
    /// <summary>
    /// Linux 6.5 reworked fetch arguments (BTF names, $arg* on more probe kinds): before it, $argN off a kprobe's function
    /// entry was an unknown $-variable, a bare name was no fetch argument, and an eprobe's missing field had its own error.
    /// </summary>
    private static readonly Version FetchArgRework = new(6, 5);

    private static readonly string[] ReservedFieldNames =
        { "common_type", "common_flags", "common_preempt_count", "common_pid", "common_tgid", "__probe_ip", "__probe_ret_ip", "__probe_func" };

    [Flags]
    private enum Fl { None = 0, Return = 1, Kernel = 2, FEntry = 4, TEvent = 8, User = 16, Fprobe = 32, TPoint = 64 }

    private const Fl LocMask = Fl.Return | Fl.Kernel | Fl.FEntry | Fl.TEvent | Fl.User;

    private enum Op { Nop, Reg, Stack, StackP, Retval, Imm, Comm, Arg, FOffs, Data, Deref, UDeref, StRaw, StMem, StUMem, StString, StUString, StSymStr, ModBf, LpArray, TpArg, End, NopSymbol }

    private sealed record FetchType(string Name, int Size, bool IsString);

    private static readonly FetchType[] Types =
    {
        new("string", 4, true), new("ustring", 4, true), new("symstr", 4, true),
        new("u8", 1, false), new("u16", 2, false), new("u32", 4, false), new("u64", 8, false),
        new("s8", 1, false), new("s16", 2, false), new("s32", 4, false), new("s64", 8, false),
        new("x8", 1, false), new("x16", 2, false), new("x32", 4, false), new("x64", 8, false),
        new("char", 1, false), new("symbol", 8, false),
    };

    /// <summary>Characters refused anywhere in a definition: each would end it early, start a second one or comment out the rest.</summary>
    public static int IndexOfUnsafeCharacter(string text)
    {
        for (int i = 0; i < text.Length; i++)
            if (char.IsControl(text[i]) || text[i] == '#' || text[i] == ';') return i;
        return -1;
    }

    /// <summary>The words of a definition, as the kernel's argv_split makes them.</summary>
    public static string[] Split(string command) =>
        command.Split(new[] { ' ', '\t', '\n', '\v', '\f', '\r' }, StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Validates one definition for the given file; null when the kernel would accept it as far as can be known here.</summary>
    public static ProbeSyntaxError? Validate(string command, ProbeEventsFile file, IProbeEnvironment environment)
    {
        int bad = IndexOfUnsafeCharacter(command);
        if (bad >= 0)
            return new ProbeSyntaxError(ProbeErrorKind.UnsafeCharacter,
                $"{ProbeErrors.Text(ProbeErrorKind.UnsafeCharacter)} (U+{(int)command[bad]:X4})", bad, command);
        var argv = Split(command);
        var s = new State(argv, environment);
        if (argv.Length == 0) return s.Fail(ProbeErrorKind.UnknownProbeType, 0, 0);
        char type = argv[0][0];
        try
        {
            switch (type)
            {
                case 'p' or 'r' when file == ProbeEventsFile.UprobeEvents:
                    ValidateUprobe(s); break;
                case 'p' or 'r' when file == ProbeEventsFile.KprobeEvents:
                    ValidateKprobe(s); break;
                case 'p' or 'r':
                    if (argv.Length > 1 && argv[1].Contains('/') && argv[1].Contains(':')) ValidateUprobe(s); else ValidateKprobe(s);
                    break;
                case 'e' when file == ProbeEventsFile.DynamicEvents:
                    ValidateEprobe(s); break;
                case 'f' or 't' when file == ProbeEventsFile.DynamicEvents:
                    ValidateFprobe(s); break;
                case '-':
                    ValidateRemove(s); break;
                default:
                    s.Fail(ProbeErrorKind.UnknownProbeType, 0, 0); break;
            }
        }
        catch (Stop) { }
        return s.Error;
    }

    private sealed class Stop : Exception { }

    private sealed class State
    {
        public State(string[] argv, IProbeEnvironment env)
        {
            Argv = argv;
            Env = env;
            Command = string.Join(' ', argv);
        }

        public readonly string[] Argv;
        public readonly IProbeEnvironment Env;
        public readonly string Command;
        public int Index;
        public int Offset;
        public Fl Flags;
        public readonly Op[] Code = new Op[FetchInsnMax];
        public ProbeSyntaxError? Error;
        public IReadOnlyCollection<string>? EventFields;

        public int PositionOf(int index)
        {
            int pos = 0;
            for (int i = 0; i < Math.Min(index, Argv.Length); i++) pos += Argv[i].Length + 1;
            return pos;
        }

        /// <summary>Records the error at word Index, offset within it, as __trace_probe_log_err does, and stops.</summary>
        public ProbeSyntaxError Fail(ProbeErrorKind kind, int offset) => Fail(kind, Index, offset);

        public ProbeSyntaxError Fail(ProbeErrorKind kind, int index, int offset)
        {
            int pos = index >= Argv.Length ? PositionOf(Argv.Length) : PositionOf(index) + offset;
            Error = new ProbeSyntaxError(kind, ProbeErrors.Text(kind), pos, Command);
            throw new Stop();
        }
    }

    // ---------- names ----------

    public static bool IsGoodName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    /// <summary>traceprobe_parse_event_name: "[group/]event" (or group.event); returns (group, event), event null when "group/" only.</summary>
    private static (string? Group, string? Event) ParseEventName(State s, string text, int offset, bool allowEmptyEvent = true)
    {
        string? group = null;
        int slash = text.IndexOf('/');
        if (slash < 0) slash = text.IndexOf('.');
        string ev = text;
        if (slash >= 0)
        {
            if (slash == 0) s.Fail(ProbeErrorKind.NoGroupName, offset);
            if (slash > MaxEventNameLength) s.Fail(ProbeErrorKind.GroupTooLong, offset);
            group = text[..slash];
            if (!IsGoodName(group)) s.Fail(ProbeErrorKind.BadGroupName, offset);
            ev = text[(slash + 1)..];
            offset += slash + 1;
        }
        if (ev.Length == 0)
        {
            if (slash >= 0 && allowEmptyEvent) return (group, null);
            s.Fail(ProbeErrorKind.NoEventName, offset);
        }
        if (ev.Length > MaxEventNameLength) s.Fail(ProbeErrorKind.EventTooLong, offset);
        if (!IsGoodName(ev)) s.Fail(ProbeErrorKind.BadEventName, offset);
        return (group, ev);
    }

    // ---------- probe kinds ----------

    private static void CheckArgCount(State s)
    {
        if (s.Argv.Length - 2 > MaxTraceArgs) s.Fail(ProbeErrorKind.TooManyArgs, 2, 0);
    }

    private static void ValidateUprobe(State s)
    {
        var argv = s.Argv;
        bool isReturn = argv[0][0] == 'r';
        if (argv.Length < 2) s.Fail(ProbeErrorKind.BadPlace, 1, 0);
        CheckArgCount(s);
        string? ev = argv[0].Length > 1 && argv[0][1] == ':' ? argv[0][2..] : null;
        var place = argv[1];
        int colon = place.LastIndexOf(':');
        if (!place.Contains('/') || colon < 0 || colon + 1 >= place.Length || !char.IsAsciiDigit(place[colon + 1]))
            s.Fail(ProbeErrorKind.BadPlace, 1, 0);
        s.Index = 1;
        var file = place[..colon];
        var regular = s.Env.IsRegularFile(file);
        if (regular is null) s.Fail(ProbeErrorKind.FileNotFound, 0);
        if (regular == false) s.Fail(ProbeErrorKind.NoRegularFile, 0);
        int argStart = colon + 1;
        string rest = place[argStart..];
        int paren = rest.IndexOf('(');
        if (paren >= 0)
        {
            int close = rest.IndexOf(')', paren);
            if (close < 0) s.Fail(ProbeErrorKind.RefcntOpenBrace, argStart + rest.Length);
            if (close + 1 != rest.Length) s.Fail(ProbeErrorKind.BadRefcntSuffix, argStart + close + 1);
            if (!KernelNumber.TryParseUnsigned(rest[(paren + 1)..close], 0, out _)) s.Fail(ProbeErrorKind.BadRefcnt, argStart + paren + 1);
            rest = rest[..paren];
        }
        int pct = rest.IndexOf('%');
        if (pct >= 0)
        {
            if (rest[pct..] == "%return") isReturn = true;
            else s.Fail(ProbeErrorKind.BadAddrSuffix, argStart + pct);
            rest = rest[..pct];
        }
        if (!KernelNumber.TryParseUnsigned(rest, 0, out _)) s.Fail(ProbeErrorKind.BadUprobeOffs, argStart);
        s.Index = 0;
        if (ev is not null) ParseEventName(s, ev, 2);
        s.Flags = Fl.User | (isReturn ? Fl.Return : Fl.None);
        ParseArguments(s, 2);
    }

    private static void ValidateKprobe(State s)
    {
        var argv = s.Argv;
        bool isReturn = argv[0][0] == 'r';
        if (argv.Length < 2) s.Fail(ProbeErrorKind.BadPlace, 1, 0);
        CheckArgCount(s);
        int colon = argv[0].IndexOf(':', 1);
        string? ev = colon >= 0 ? argv[0][(colon + 1)..] : null;
        if (argv[0].Length > 1 && char.IsAsciiDigit(argv[0][1]))
        {
            if (!isReturn) s.Fail(ProbeErrorKind.BadMaxactType, 0, 1);
            int len = colon >= 0 ? colon - 1 : argv[0].Length - 1;
            if (len > MaxEventNameLength) s.Fail(ProbeErrorKind.BadMaxact, 0, 1);
            if (!KernelNumber.TryParseUInt32(argv[0].Substring(1, len), 0, out var maxActive) || maxActive == 0) s.Fail(ProbeErrorKind.BadMaxact, 0, 1);
            if (maxActive > MaxKretprobeMaxActive) s.Fail(ProbeErrorKind.MaxactTooBig, 0, 1);
        }
        bool entry = false;
        string? funcName = null;
        if (!KernelNumber.TryParseUnsigned(argv[1], 0, out _))
        {
            s.Index = 1;
            if (argv[1].Contains('/') && argv[1].Contains(':')) s.Fail(ProbeErrorKind.BadPlace, 0); // a uprobe place in kprobe_events
            var symbol = argv[1];
            int pct = symbol.IndexOf('%');
            if (pct >= 0)
            {
                if (symbol[pct..] == "%return") isReturn = true;
                else s.Fail(ProbeErrorKind.BadAddrSuffix, pct);
                symbol = symbol[..pct];
            }
            long offset = 0;
            int sign = symbol.IndexOfAny(new[] { '+', '-' });
            if (sign >= 0)
            {
                if (!KernelNumber.TryParseSigned(symbol[sign..], 0, out offset) || offset < 0 || offset > uint.MaxValue)
                    s.Fail(ProbeErrorKind.BadProbeAddr, 0);
                symbol = symbol[..sign];
            }
            if (symbol.Length == 0) s.Fail(ProbeErrorKind.BadProbeAddr, 0);
            if (!symbol.Contains(':'))
            {
                var count = s.Env.KernelSymbolCount(symbol);
                if (count == 0) s.Fail(ProbeErrorKind.BadProbeAddr, 0);
                if (count > 1) s.Fail(ProbeErrorKind.NonUniqSymbol, 0);
            }
            funcName = symbol;
            entry = offset == 0;
            if (isReturn && !entry) s.Fail(ProbeErrorKind.BadRetprobe, 0);
        }
        s.Index = 0;
        if (ev is not null) ParseEventName(s, ev, colon + 1);
        s.Flags = Fl.Kernel | (isReturn ? Fl.Return : entry && funcName is not null ? Fl.FEntry : Fl.None);
        ParseArguments(s, 2);
    }

    private static void ValidateFprobe(State s)
    {
        var argv = s.Argv;
        bool tracepoint = argv[0][0] == 't';
        if (argv.Length < 2) s.Fail(ProbeErrorKind.BadPlace, 1, 0);
        CheckArgCount(s);
        string? ev = null;
        if (argv[0].Length > 1)
        {
            if (argv[0][1] != ':') s.Fail(ProbeErrorKind.BadMaxact, 0, 1);
            ev = argv[0][2..];
        }
        s.Index = 1;
        var symbol = argv[1];
        bool isReturn = false;
        int pct = symbol.IndexOf('%');
        if (pct >= 0)
        {
            if (!tracepoint && symbol[pct..] == "%return") isReturn = true;
            else s.Fail(ProbeErrorKind.BadAddrSuffix, pct);
            symbol = symbol[..pct];
        }
        // An fprobe whose arguments fetch $retval is an exit probe (trace_fprobe.c parse_symbol_and_return).
        if (!isReturn && !tracepoint && argv.Skip(2).Any(a => a.StartsWith("$retval", StringComparison.Ordinal) || a.Contains("=$retval", StringComparison.Ordinal)))
            isReturn = true;
        if (tracepoint)
        {
            for (int i = 0; i < symbol.Length; i++)
                if (!char.IsAsciiLetterOrDigit(symbol[i]) && symbol[i] != '_') s.Fail(ProbeErrorKind.BadTpName, i);
            if (!s.Env.TracepointExists(symbol)) s.Fail(ProbeErrorKind.NoTracepoint, 0);
        }
        else if (!symbol.Contains(':') && !symbol.Contains('*') && s.Env.KernelSymbolCount(symbol) == 0)
            s.Fail(ProbeErrorKind.BadProbeAddr, 0);
        s.Index = 0;
        if (ev is not null) ParseEventName(s, ev, 2);
        s.Flags = Fl.Kernel | Fl.Fprobe | (isReturn ? Fl.Return : Fl.FEntry) | (tracepoint ? Fl.TPoint : Fl.None);
        ParseArguments(s, 2);
    }

    private static void ValidateEprobe(State s)
    {
        var argv = s.Argv;
        if (argv.Length < 2) s.Fail(ProbeErrorKind.BadPlace, 1, 0);
        s.Index = 0;
        if (argv[0].Length > 1 && argv[0][1] == ':')
        {
            var (_, e) = ParseEventName(s, argv[0][2..], 2);
            if (e is null) s.Fail(ProbeErrorKind.NoEventName, 2);
        }
        s.Index = 1;
        var (system, attached) = ParseEventName(s, argv[1], 0, allowEmptyEvent: false);
        if (system is null || attached is null) s.Fail(ProbeErrorKind.NoEventInfo, 0);
        s.EventFields = s.Env.EventFields(system!, attached!);
        if (s.EventFields is null) s.Fail(ProbeErrorKind.BadAttachEvent, 0);
        int argEnd = argv.Length;
        for (int i = 2; i < argv.Length; i++)
        {
            if (argv[i] != "if") continue;
            if (i + 1 >= argv.Length) s.Fail(ProbeErrorKind.NoEpFilter, i + 1, 0);
            argEnd = i;
            break;
        }
        if (argEnd - 2 > MaxTraceArgs) s.Fail(ProbeErrorKind.TooManyArgs, 2, 0);
        s.Flags = Fl.Kernel | Fl.TEvent;
        ParseArguments(s, 2, argEnd);
    }

    private static void ValidateRemove(State s)
    {
        // -:[group/]event [match args]
        var a = s.Argv[0];
        if (a.Length < 2 || a[1] != ':') s.Fail(ProbeErrorKind.UnknownProbeType, 0, 0);
        s.Index = 0;
        ParseEventName(s, a[2..], 2);
    }

    // ---------- arguments ----------

    private static void ParseArguments(State s, int first, int end = -1)
    {
        if (end < 0) end = s.Argv.Length;
        var names = new List<string>();
        for (int i = first; i < end; i++)
        {
            s.Index = i;
            s.Offset = 0;
            ParseArgument(s, s.Argv[i], i - first, names);
        }
    }

    private static void ParseArgument(State s, string arg, int ordinal, List<string> names)
    {
        string name, body;
        int eq = arg.IndexOf('=');
        if (eq >= 0)
        {
            if (eq > MaxArgNameLength) s.Fail(ProbeErrorKind.ArgNameTooLong, 0);
            if (eq == 0) s.Fail(ProbeErrorKind.NoArgName, 0);
            name = arg[..eq];
            body = arg[(eq + 1)..];
        }
        else
        {
            // An unnamed argument is named after itself when that is a C identifier (BTF), else argN.
            int colon = arg.IndexOf(':');
            var self = colon >= 0 ? arg[..colon] : arg;
            name = IsGoodName(self) ? self : $"arg{ordinal + 1}";
            body = arg;
        }
        if (!IsGoodName(name)) s.Fail(ProbeErrorKind.BadArgName, 0);
        if (ReservedFieldNames.Contains(name) || names.Contains(name)) s.Fail(ProbeErrorKind.UsedArgName, 0);
        names.Add(name);
        s.Offset = eq >= 0 ? eq + 1 : 0;
        ParseArgumentBody(s, body);
    }

    private static FetchType? FindType(string? type, Fl flags)
    {
        if (type is not null && (flags & Fl.User) != 0 && type is "symbol" or "symstr") return null;
        type ??= "x64";
        if (type.Length > 0 && type[0] == 'b')
        {
            int slash = type.IndexOf('/');
            if (slash < 0 || !KernelNumber.TryParseUnsigned(type[(slash + 1)..], 0, out var bits)) return null;
            return bits switch { 8 => FindType("u8", flags), 16 => FindType("u16", flags), 32 => FindType("u32", flags), 64 => FindType("u64", flags), _ => null };
        }
        return Types.FirstOrDefault(t => t.Name == type);
    }

    private static void ParseArgumentBody(State s, string body)
    {
        if (body.Length > MaxArgStringLength) s.Fail(ProbeErrorKind.ArgTooLong, s.Offset);
        if (body.Length == 0) s.Fail(ProbeErrorKind.NoArgBody, s.Offset);
        Array.Clear(s.Code);
        s.Code[FetchInsnMax - 1] = Op.End;

        string arg = body;
        string? typeText = null;
        int typePos = 0;
        uint count = 0;
        int colon = body.IndexOf(':');
        if (colon >= 0)
        {
            arg = body[..colon];
            typePos = colon + 1;
            typeText = body[typePos..];
            int open = typeText.IndexOf('[');
            if (open >= 0)
            {
                int numberPos = typePos + open + 1;
                var inner = typeText[(open + 1)..];
                int close = inner.IndexOf(']');
                if (close < 0) s.Fail(ProbeErrorKind.ArrayNoClose, s.Offset + body.Length);
                if (close + 1 != inner.Length) s.Fail(ProbeErrorKind.BadArraySuffix, s.Offset + numberPos + close + 1);
                if (!KernelNumber.TryParseUInt32(inner[..close], 0, out count) || count == 0) s.Fail(ProbeErrorKind.BadArrayNum, s.Offset + numberPos);
                if (count > MaxArrayLength) s.Fail(ProbeErrorKind.ArrayTooBig, s.Offset + numberPos);
                typeText = typeText[..open];
            }
        }

        FetchType? type;
        if ((s.Flags & Fl.TEvent) == 0 && (arg is "$comm" or "$COMM" || arg.StartsWith("\\\"", StringComparison.Ordinal)))
        {
            if (count > 0 || (typeText is not null && typeText != "string")) s.Fail(ProbeErrorKind.NeedStringType, s.Offset + typePos);
            type = FindType("string", s.Flags);
        }
        else if ((s.Flags & Fl.Kernel) != 0 && typeText is "%pd" or "%pD")
            type = FindType("string", s.Flags); // dentry/file name: the kernel rewrites it into a string fetch
        else
            type = FindType(typeText, s.Flags);
        if (type is null) s.Fail(ProbeErrorKind.BadType, s.Offset + typePos);

        int pc = 0;
        ParseFetch(s, arg, ref pc);
        if (typeText is "%pd" or "%pD") return;

        var code = s.Code;
        if (type!.IsString)
        {
            if (type.Name == "symstr")
            {
                if (code[pc] is not (Op.Reg or Op.Stack or Op.Retval or Op.Arg or Op.Deref or Op.TpArg))
                    s.Fail(ProbeErrorKind.BadSymstring, s.Offset + typePos);
            }
            else if (code[pc] is not (Op.Deref or Op.UDeref or Op.Imm or Op.Comm or Op.Data or Op.TpArg))
                s.Fail(ProbeErrorKind.BadString, s.Offset + typePos);
            if (type.Name == "symstr" || code[pc] is Op.Imm or Op.Comm or Op.Data or Op.TpArg || count > 0)
            {
                pc++;
                if (code[pc] != Op.Nop) s.Fail(ProbeErrorKind.TooManyOps, s.Offset);
            }
            code[pc] = type.Name == "ustring" || code[pc] == Op.UDeref ? Op.StUString : type.Name == "symstr" ? Op.StSymStr : Op.StString;
        }
        else if (code[pc] == Op.Deref) code[pc] = Op.StMem;
        else if (code[pc] == Op.UDeref) code[pc] = Op.StUMem;
        else
        {
            pc++;
            if (code[pc] != Op.Nop) s.Fail(ProbeErrorKind.TooManyOps, s.Offset);
            code[pc] = Op.StRaw;
        }
        int storeAt = pc;

        if (typeText is not null && typeText.Length > 0 && typeText[0] == 'b')
        {
            ulong width = KernelNumber.SimpleParse(typeText, 1, 0, out int end);
            if (width == 0 || end >= typeText.Length || typeText[end] != '@') s.Fail(ProbeErrorKind.BadBitfield, s.Offset + typePos);
            int start = end + 1;
            ulong bitOffset = KernelNumber.SimpleParse(typeText, start, 0, out end);
            if (end == start || end >= typeText.Length || typeText[end] != '/') s.Fail(ProbeErrorKind.BadBitfield, s.Offset + typePos);
            pc++;
            if (code[pc] != Op.Nop) s.Fail(ProbeErrorKind.BadBitfield, s.Offset + typePos);
            code[pc] = Op.ModBf;
            if ((ulong)type.Size * 8 < width + bitOffset) s.Fail(ProbeErrorKind.BadBitfield, s.Offset + typePos);
        }
        if (count > 0)
        {
            if (code[storeAt] is not (Op.StMem or Op.StString or Op.StUString)) s.Fail(ProbeErrorKind.BadString, s.Offset + typePos);
            pc++;
            if (code[pc] != Op.Nop) s.Fail(ProbeErrorKind.TooManyOps, s.Offset);
            code[pc] = Op.LpArray;
        }
    }

    private static bool IsFunctionEntry(Fl f) => (f & LocMask) == (Fl.Kernel | Fl.FEntry);
    private static bool IsFunctionReturn(Fl f) => (f & LocMask) == (Fl.Kernel | Fl.Return);

    /// <summary>parse_probe_arg: one fetch expression, recursively through dereferences.</summary>
    private static void ParseFetch(State s, string arg, ref int pc)
    {
        const int end = FetchInsnMax - 1;
        var code = s.Code;
        char first = arg.Length > 0 ? arg[0] : '\0';
        switch (first)
        {
            case '$':
                ParseVariable(s, arg[1..], pc);
                break;
            case '%':
                if ((s.Flags & (Fl.TEvent | Fl.Fprobe)) != 0) s.Fail(ProbeErrorKind.BadVar, s.Offset);
                if (ProbeRegisters.IsValid(s.Env.Architecture, arg[1..])) code[pc] = Op.Reg;
                else s.Fail(ProbeErrorKind.BadRegName, s.Offset);
                break;
            case '@':
                if (arg.Length > 1 && char.IsAsciiDigit(arg[1]))
                {
                    if (!KernelNumber.TryParseUnsigned(arg[1..], 0, out _)) s.Fail(ProbeErrorKind.BadMemAddr, s.Offset);
                    code[pc] = Op.Imm;
                }
                else if (arg.Length > 1 && arg[1] == '+')
                {
                    if ((s.Flags & Fl.Kernel) != 0) s.Fail(ProbeErrorKind.FileOnKprobe, s.Offset);
                    if (!KernelNumber.TryParseSigned(arg[2..], 0, out _)) s.Fail(ProbeErrorKind.BadFileOffs, s.Offset);
                    code[pc] = Op.FOffs;
                }
                else
                {
                    if ((s.Flags & Fl.Kernel) == 0) s.Fail(ProbeErrorKind.SymOnUprobe, s.Offset);
                    // The kernel resolves @symbol when the probe is registered and fails with ENOENT, without an error_log entry.
                    code[pc] = Op.NopSymbol;
                    if (++pc == end) s.Fail(ProbeErrorKind.TooManyOps, s.Offset);
                    code[pc] = Op.Imm;
                }
                if (++pc == end) s.Fail(ProbeErrorKind.TooManyOps, s.Offset);
                code[pc] = Op.Deref;
                break;
            case '+' or '-':
            {
                var deref = Op.Deref;
                var a = arg;
                if (a.Length > 1 && a[1] == 'u')
                {
                    deref = Op.UDeref;
                    a = a[0] + a[2..];
                }
                if (a[0] == '+') a = a[1..];
                int open = a.IndexOf('(');
                if (open < 0) s.Fail(ProbeErrorKind.DerefNeedBrace, s.Offset);
                if (!KernelNumber.TryParseSigned(a[..open], 0, out _)) s.Fail(ProbeErrorKind.BadDerefOffs, s.Offset);
                s.Offset += open + 1 + (a[0] != '-' ? 1 : 0);
                var inner = a[(open + 1)..];
                int close = inner.LastIndexOf(')');
                if (close < 0) s.Fail(ProbeErrorKind.DerefOpenBrace, s.Offset + inner.Length);
                int saved = s.Offset;
                ParseFetch(s, inner[..close], ref pc);
                s.Offset = saved;
                if (code[pc] is Op.Comm or Op.Data) s.Fail(ProbeErrorKind.CommCantDeref, s.Offset);
                if (++pc == end) s.Fail(ProbeErrorKind.TooManyOps, s.Offset);
                code[pc] = deref;
                break;
            }
            case '\\':
                if (arg.Length > 1 && arg[1] == '"')
                {
                    var str = arg[2..];
                    if (str.Length == 0 || str[^1] != '"') s.Fail(ProbeErrorKind.ImmstrNoClose, s.Offset + 2 + str.Length);
                    code[pc] = Op.Data;
                }
                else
                {
                    var imm = arg[1..];
                    bool ok = imm.Length > 0 && (char.IsAsciiDigit(imm[0]) ? KernelNumber.TryParseUnsigned(imm, 0, out _)
                        : imm[0] == '-' ? KernelNumber.TryParseSigned(imm, 0, out _)
                        : imm[0] == '+' && KernelNumber.TryParseSigned(imm[1..], 0, out _));
                    if (!ok) s.Fail(ProbeErrorKind.BadImm, s.Offset + 1);
                    code[pc] = Op.Imm;
                }
                break;
            default:
                if ((char.IsAsciiLetter(first) || first == '_') && s.Env.KernelVersion >= FetchArgRework)
                {
                    // A BTF variable (function parameter name): only at a kernel function entry or exit, with BTF.
                    if (!IsFunctionEntry(s.Flags) && !IsFunctionReturn(s.Flags)) s.Fail(ProbeErrorKind.NosupBtfarg, s.Offset);
                    if (!s.Env.HasBtf) s.Fail(ProbeErrorKind.NosupBtfarg, s.Offset);
                    code[pc] = Op.Arg; // the parameter name itself is checked by the kernel against BTF
                }
                break;
        }
        if (code[pc] == Op.Nop) s.Fail(ProbeErrorKind.BadFetchArg, s.Offset);
    }

    private static void ParseVariable(State s, string name, int pc)
    {
        var code = s.Code;
        if ((s.Flags & Fl.TEvent) != 0)
        {
            if (s.EventFields is not null && s.EventFields.Contains(name)) { code[pc] = Op.TpArg; return; }
            if (name is "comm" or "COMM") { code[pc] = Op.Comm; return; }
            s.Fail(s.Env.KernelVersion < FetchArgRework ? ProbeErrorKind.BadAttachArg : ProbeErrorKind.BadVar, 0);
        }
        if (name == "retval")
        {
            if ((s.Flags & Fl.Return) != 0) { code[pc] = Op.Retval; return; }
            s.Fail(ProbeErrorKind.RetvalOnProbe, s.Offset);
        }
        if (name.StartsWith("stack", StringComparison.Ordinal))
        {
            var rest = name[5..];
            if (rest.Length == 0) { code[pc] = Op.StackP; return; }
            if (char.IsAsciiDigit(rest[0]))
            {
                if (!KernelNumber.TryParseUnsigned(rest, 10, out var n)) s.Fail(ProbeErrorKind.BadVar, s.Offset);
                if ((s.Flags & Fl.Kernel) != 0 && n > ParamMaxStack) s.Fail(ProbeErrorKind.BadStackNum, s.Offset);
                code[pc] = Op.Stack;
                return;
            }
            s.Fail(ProbeErrorKind.BadVar, s.Offset);
        }
        if (name is "comm" or "COMM") { code[pc] = Op.Comm; return; }
        if (name.StartsWith("arg", StringComparison.Ordinal))
        {
            if (s.Env.KernelVersion < FetchArgRework && !IsFunctionEntry(s.Flags)) s.Fail(ProbeErrorKind.BadVar, s.Offset);
            if (!KernelNumber.TryParseUnsigned(name[3..], 10, out var n)) s.Fail(ProbeErrorKind.BadVar, s.Offset);
            if (n == 0 || n > ParamMaxStack) s.Fail(ProbeErrorKind.BadArgNum, s.Offset);
            if (!IsFunctionEntry(s.Flags) && !IsFunctionReturn(s.Flags)) s.Fail(ProbeErrorKind.NofentryArgs, s.Offset);
            code[pc] = Op.Arg;
            return;
        }
        s.Fail(ProbeErrorKind.BadVar, s.Offset);
    }
}
