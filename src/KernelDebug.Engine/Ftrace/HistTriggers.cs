using System.Globalization;
using System.Management.Automation;
using System.Text;
using System.Text.RegularExpressions;
using KernelDebug.Host;
using KernelDebug.Native;
using KernelDebug.Probes;

namespace KernelDebug.Ftrace;

/// <summary>
/// Hist triggers: built from their parts, validated against the event's format (fields, modifiers per type, sort,
/// size, actions) with the kernel's error kinds and columns, written in one O_APPEND write to the event's trigger
/// file, and on refusal explained from the instance's error_log. Clear, pause, continue and remove are the same
/// definition with :clear/:pause/:cont or a leading '!'. Triggers made here are removed at exit, newest first
/// (an onmatch trigger must go before the one whose variables it reads).
/// </summary>
public static class HistTriggers
{
    private static readonly object Gate = new();
    private static readonly List<(string Path, string Removal)> Made = new();

    static HistTriggers() => ShutdownHooks.Add(ShutdownHooks.StageRestore, RemoveAllMade);

    /// <summary>Removes the triggers this process made that are still there, newest first.</summary>
    public static void RemoveAllMade()
    {
        List<(string Path, string Removal)> copy;
        lock (Gate) { copy = Made.ToList(); Made.Clear(); }
        for (int i = copy.Count - 1; i >= 0; i--)
        {
            try { if (File.Exists(copy[i].Path)) ControlFile.Append(copy[i].Path, copy[i].Removal); } catch (Exception) { /* best effort at exit */ }
        }
    }

    private static readonly Regex Identifier = new("^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant);
    private static readonly HashSet<string> Modifiers = new(StringComparer.Ordinal) { "hex", "sym", "sym-offset", "execname", "syscall", "log2", "usecs", "percent", "graph", "stacktrace" };
    private static readonly HashSet<string> PseudoFields = new(StringComparer.Ordinal) { "common_timestamp", "common_cpu", "cpu", "hitcount", "common_stacktrace" };
    private const int MaxKeys = 3, MaxSortFields = 2, MinSize = 128, MaxSize = 131072;

    /// <summary>
    /// The definition line, "hist:keys=...:vals=...:var=expr:sort=...:size=N:name=x:pause:action... if filter", and the
    /// first problem found in it (null when none). lookupEvent says whether system.event exists (onmatch);
    /// synthFields gives a synthetic event's field count, null when there is none (trace()).
    /// </summary>
    public static (string Definition, HistSyntaxError? Error) Build(HistTriggerSpec spec, TraceEventFormat? format,
        Func<string, string, bool>? lookupEvent = null, Func<string, int?>? synthFields = null)
    {
        var sb = new StringBuilder("hist:");
        HistSyntaxError? error = null;
        var keyNames = new List<string>();
        var valueNames = new List<string>();
        var varNames = new HashSet<string>(StringComparer.Ordinal);
        void Fail(HistErrorKind kind, int at)
        {
            error ??= new HistSyntaxError(kind, HistErrors.Text(kind), at, "");
        }
        bool Unsafe(string part, int at)
        {
            for (int i = 0; i < part.Length; i++)
                if (char.IsControl(part[i]) || part[i] == ':' || CharUnicodeInfo.GetUnicodeCategory(part[i]) == UnicodeCategory.Format)
                { Fail(HistErrorKind.UnsafeCharacter, at + i); return true; }
            return false;
        }

        // keys=
        sb.Append("keys=");
        if (spec.Keys.Count is 0 or > MaxKeys) Fail(HistErrorKind.BadKeyCount, 5);
        for (int k = 0; k < spec.Keys.Count; k++)
        {
            if (k > 0) sb.Append(',');
            int at = sb.Length;
            var key = spec.Keys[k].Trim();
            sb.Append(key);
            if (Unsafe(key, at)) continue;
            if (key.StartsWith('$')) { Fail(HistErrorKind.InvalidRefKey, at); continue; }
            var (name, _) = CheckField(key, at, format, isKey: true, Fail);
            keyNames.Add(name);
        }
        // vals=
        if (spec.Values.Count > 0)
        {
            sb.Append(":vals=");
            for (int v = 0; v < spec.Values.Count; v++)
            {
                if (v > 0) sb.Append(',');
                int at = sb.Length;
                var value = spec.Values[v].Trim();
                sb.Append(value);
                if (Unsafe(value, at)) continue;
                if (value.StartsWith('$')) { valueNames.Add(value[1..]); continue; }
                var (name, _) = CheckField(value, at, format, isKey: false, Fail);
                valueNames.Add(name);
            }
        }
        // variables
        foreach (var raw in spec.Variables)
        {
            sb.Append(':');
            int at = sb.Length;
            var assignment = raw.Trim();
            sb.Append(assignment);
            if (Unsafe(assignment, at)) continue;
            int eq = assignment.IndexOf('=');
            if (eq <= 0 || !Identifier.IsMatch(assignment[..eq])) { Fail(HistErrorKind.MalformedAssignment, at); continue; }
            var name = assignment[..eq];
            if (eq == assignment.Length - 1) { Fail(HistErrorKind.EmptyAssignment, at); continue; }
            if (!varNames.Add(name)) { Fail(HistErrorKind.DuplicateVar, at); continue; }
            CheckExpression(assignment[(eq + 1)..], at + eq + 1, format, Fail);
        }
        // sort=
        if (spec.Sort.Count > 0)
        {
            sb.Append(':');
            int sortAt = sb.Length;
            sb.Append("sort=");
            // "sort=" with nothing is an empty assignment to the kernel; "sort=a," an empty sort field.
            if (spec.Sort.Count == 1 && spec.Sort[0].Trim().Length == 0) Fail(HistErrorKind.EmptyAssignment, sortAt);
            if (spec.Sort.Count > MaxSortFields) Fail(HistErrorKind.TooManySortFields, sortAt);
            for (int s = 0; s < spec.Sort.Count; s++)
            {
                if (s > 0) sb.Append(',');
                int at = sb.Length;
                var field = spec.Sort[s].Trim();
                sb.Append(field);
                if (Unsafe(field, at)) continue;
                if (field.Length == 0) { Fail(HistErrorKind.EmptySortField, sortAt); continue; }
                int dot = field.IndexOf('.');
                var name = dot < 0 ? field : field[..dot];
                if (dot >= 0 && field[(dot + 1)..] is not ("ascending" or "descending")) { Fail(HistErrorKind.InvalidSortModifier, at + dot + 1); continue; }
                if (name != "hitcount" && !keyNames.Contains(name) && !valueNames.Contains(name)) Fail(HistErrorKind.InvalidSortField, at);
            }
        }
        if (spec.Size is int size)
        {
            sb.Append(":size=");
            if (size is < MinSize / 2 + 1 or > MaxSize) Fail(HistErrorKind.BadSize, sb.Length);
            sb.Append(size.ToString(CultureInfo.InvariantCulture));
        }
        if (!string.IsNullOrEmpty(spec.Name))
        {
            sb.Append(":name=");
            if (!Identifier.IsMatch(spec.Name)) Fail(HistErrorKind.BadName, sb.Length);
            sb.Append(spec.Name);
        }
        if (spec.Paused) sb.Append(":pause");
        int saves = 0;
        foreach (var raw in spec.Actions)
        {
            sb.Append(':');
            int at = sb.Length;
            var action = raw.Trim();
            sb.Append(action);
            if (Unsafe(action, at)) continue;
            CheckAction(action, at, varNames, lookupEvent, synthFields, ref saves, Fail);
        }
        if (!string.IsNullOrWhiteSpace(spec.Filter))
        {
            int at = sb.Length + 4;
            var filter = spec.Filter.Trim();
            sb.Append(" if ").Append(filter);
            for (int i = 0; i < filter.Length; i++)
                if (char.IsControl(filter[i])) { Fail(HistErrorKind.UnsafeCharacter, at + i); break; }
        }
        var definition = sb.ToString();
        return (definition, error is null ? null : error with { Command = definition });
    }

    /// <summary>Checks field[.modifier]; returns the field's name and its format entry (null for pseudo fields).</summary>
    private static (string Name, TraceEventField? Field) CheckField(string token, int at, TraceEventFormat? format, bool isKey, Action<HistErrorKind, int> fail)
    {
        int dot = token.IndexOf('.');
        var name = dot < 0 ? token : token[..dot];
        var modifier = dot < 0 ? null : token[(dot + 1)..];
        if (name == "stacktrace" && isKey) return (name, null);
        TraceEventField? field = null;
        if (!PseudoFields.Contains(name))
        {
            field = format?.AllFields.FirstOrDefault(f => f.Name == name);
            if (format is not null && field is null) { fail(HistErrorKind.FieldNotFound, at); return (name, null); }
        }
        if (modifier is null) return (name, field);
        int mAt = at + dot + 1;
        bool buckets = modifier.StartsWith("buckets", StringComparison.Ordinal) || modifier.StartsWith("bucket=", StringComparison.Ordinal);
        if (!Modifiers.Contains(modifier) && !buckets) { fail(HistErrorKind.BadFieldModifier, mAt); return (name, field); }
        if (buckets)
        {
            int eq = modifier.IndexOf('=');
            if (eq < 0 || !ulong.TryParse(modifier.AsSpan(eq + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n == 0)
            { fail(HistErrorKind.BadFieldModifier, mAt); return (name, field); }
        }
        // The kernel accepts .execname on common_pid only, .usecs on the timestamp; a string takes no modifier.
        bool wrong = modifier switch
        {
            "execname" => name != "common_pid",
            "usecs" => name != "common_timestamp",
            "syscall" => field is not null && field.Name != "id",
            _ => field is { IsString: true },
        };
        if (wrong) fail(HistErrorKind.BadFieldModifier, mAt);
        return (name, field);
    }

    private static readonly Regex Operand = new(@"[^+\-*/()\s]+", RegexOptions.CultureInvariant);

    private static void CheckExpression(string expr, int at, TraceEventFormat? format, Action<HistErrorKind, int> fail)
    {
        int operands = 0;
        foreach (Match m in Operand.Matches(expr))
        {
            operands++;
            var t = m.Value;
            if (t.StartsWith('$') || char.IsDigit(t[0])) continue;
            // A fully qualified reference (system.event.$var) is not checked here.
            if (t.Contains('$', StringComparison.Ordinal)) continue;
            var (_, field) = CheckField(t, at + m.Index, format, isKey: false, fail);
            if (field is { IsString: true } && expr.IndexOfAny(new[] { '+', '-', '*', '/' }) >= 0) fail(HistErrorKind.InvalidStrOperand, at + m.Index);
        }
        if (operands > 4) fail(HistErrorKind.TooManySubexpr, at);
    }

    private static readonly Regex ActionRx = new(@"^(?<handler>on[a-z]+)\((?<harg>[^)]*)\)\.(?<action>[A-Za-z_][A-Za-z0-9_]*)\((?<params>[^)]*)\)$", RegexOptions.CultureInvariant);

    private static void CheckAction(string action, int at, HashSet<string> vars, Func<string, string, bool>? lookupEvent, Func<string, int?>? synthFields, ref int saves, Action<HistErrorKind, int> fail)
    {
        int open = action.IndexOf('(');
        var handler = open < 0 ? action : action[..open];
        if (handler is not ("onmax" or "onchange" or "onmatch")) { fail(HistErrorKind.ActionNotFound, at); return; }
        if (action.IndexOf(')', open) < 0) { fail(HistErrorKind.NoClosingParen, at + open); return; }
        var m = ActionRx.Match(action);
        if (!m.Success)
        {
            // "onmax($x)" with no ".action(...)", or an unclosed action.
            int dot = action.IndexOf(").", StringComparison.Ordinal);
            fail(dot < 0 ? HistErrorKind.ActionNotFound : HistErrorKind.NoClosingParen, at + (dot < 0 ? 0 : dot + 2));
            return;
        }
        var harg = m.Groups["harg"].Value.Trim();
        int hAt = at + m.Groups["harg"].Index;
        if (handler is "onmax" or "onchange")
        {
            if (!harg.StartsWith('$')) { fail(HistErrorKind.OnxNotVar, hAt); return; }
            if (vars.Count > 0 && !vars.Contains(harg[1..])) fail(HistErrorKind.OnxVarNotFound, hAt);
        }
        else
        {
            var parts = harg.Split('.');
            if (parts.Length != 2) { fail(HistErrorKind.SubsysNotFound, hAt); return; }
            if (lookupEvent is not null && !lookupEvent(parts[0], parts[1])) { fail(HistErrorKind.InvalidSubsysEvent, hAt); return; }
        }
        var name = m.Groups["action"].Value;
        var parameters = m.Groups["params"].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        int aAt = at + m.Groups["action"].Index;
        switch (name)
        {
            case "save":
                if (handler == "onmatch") { fail(HistErrorKind.ActionMismatch, aAt); return; }
                if (parameters.Length == 0) { fail(HistErrorKind.NoSaveParams, aAt); return; }
                if (++saves > 1) fail(HistErrorKind.TooManySaveActions, aAt);
                return;
            case "snapshot":
                if (handler == "onmatch") fail(HistErrorKind.ActionMismatch, aAt);
                return;
            default:
            {
                // trace(synthetic, params...) or the older synthetic(params...).
                string synth = name;
                var args = parameters;
                if (name == "trace")
                {
                    if (parameters.Length == 0) { fail(HistErrorKind.SynthEventNotFound, aAt); return; }
                    synth = parameters[0];
                    args = parameters[1..];
                }
                if (synthFields is null) return;
                var count = synthFields(synth);
                if (count is null) { fail(HistErrorKind.SynthEventNotFound, aAt); return; }
                if (count != args.Length) fail(HistErrorKind.SynthCountMismatch, aAt);
                return;
            }
        }
    }

    public static string TriggerPath(FtraceInstance instance, string system, string ev) =>
        instance.FilePath(Path.Combine("events", system, ev, "trigger"));

    /// <summary>Whether this kernel has hist triggers (events have a hist file); the reason and remedy when not.</summary>
    public static void EnsureAvailable(FtraceInstance instance, string system, string ev)
    {
        if (File.Exists(instance.FilePath(Path.Combine("events", system, ev, "hist")))) return;
        if (!Directory.Exists(instance.FilePath(Path.Combine("events", system, ev))))
            throw new KernelDebugException($"The event {system}:{ev} does not exist in {instance.Name}.", "TraceEventNotFound", ErrorCategory.ObjectNotFound) { Target = $"{system}:{ev}" };
        var capability = CapabilityProbe.Run(new[] { "HistTriggers" }).FirstOrDefault();
        throw new KernelDebugException(
            $"This kernel has no hist triggers: {capability?.Detail ?? "events have no hist file"}. Hist triggers and synthetic events need a kernel built with CONFIG_HIST_TRIGGERS (and CONFIG_SYNTH_EVENTS), e.g. the debug kernel of tests/vm (Build-DebugKernel.ps1).",
            "HistTriggersMissing", ErrorCategory.NotImplemented)
        { Target = $"{system}:{ev}", Remedy = capability?.Remedy ?? "Boot a kernel built with CONFIG_HIST_TRIGGERS." };
    }

    /// <summary>Adds a hist trigger: validated, one write, the kernel's error_log entry on refusal. Returns the trigger line.</summary>
    public static string Add(FtraceInstance instance, TraceEventFormat format, HistTriggerSpec spec)
    {
        if (instance.IsTopLevel)
            throw new KernelDebugException("Hist triggers are set in an instance, not the shared top-level buffer (New-FtraceInstance makes one).",
                "TriggerOnTopLevel", ErrorCategory.InvalidOperation) { Target = instance.Name };
        EnsureAvailable(instance, format.System, format.Name);
        var (definition, error) = Build(spec, format,
            (s, e) => Directory.Exists(instance.FilePath(Path.Combine("events", s, e))),
            SyntheticEvents.FieldCount);
        if (error is not null) throw error.ToException();
        var path = TriggerPath(instance, format.System, format.Name);
        Write(instance, path, definition, $"{format.System}:{format.Name}");
        lock (Gate) Made.Add((path, "!" + definition));
        return definition;
    }

    /// <summary>The trigger line with :clear, :pause or :cont before its filter (the kernel finds the trigger by it).</summary>
    public static string Command(string trigger, string verb)
    {
        int ifAt = trigger.IndexOf(" if ", StringComparison.Ordinal);
        return ifAt < 0 ? trigger + ":" + verb : trigger[..ifAt] + ":" + verb + trigger[ifAt..];
    }

    /// <summary>Clears ("clear"), pauses ("pause") or continues ("cont") a trigger, or removes it ("remove").</summary>
    public static void Control(FtraceInstance instance, string system, string ev, string trigger, string verb)
    {
        var path = TriggerPath(instance, system, ev);
        var line = verb == "remove" ? "!" + trigger : Command(trigger, verb);
        Write(instance, path, line, $"{system}:{ev}");
        if (verb == "remove") lock (Gate) Made.RemoveAll(m => m.Path == path && m.Removal == line);
    }

    private static void Write(FtraceInstance instance, string path, string line, string target)
    {
        var errorLog = instance.FilePath("error_log");
        var before = TraceErrorLog.Snapshot(errorLog);
        try { ControlFile.Append(path, line); }
        catch (KernelDebugException ex)
        {
            var entry = FindNew(before, TraceErrorLog.Snapshot(errorLog), line);
            if (entry is not null && HistErrors.FromText(entry.Message) is { } kind)
                throw new HistSyntaxError(kind, entry.Message, entry.Position, entry.Command).ToException($"kernel error_log, {Errno.Name(ex.Errno)}");
            throw new KernelDebugException($"The kernel refused '{line}' on {target} ({Errno.Name(ex.Errno)}, no error_log entry).",
                ex.Errno == Errno.ENOENT ? "HistTriggerNotFound" : "HistRefusedByKernel", ex.Category, ex) { Target = line };
        }
    }

    /// <summary>The new error_log entry for a hist command: the kernel logs "hist:" + what followed the command word.</summary>
    public static TraceErrorLogEntry? FindNew(string? before, string? after, string line)
    {
        if (after is null) return null;
        var old = new HashSet<string>(before is null ? Array.Empty<string>() : TraceErrorLog.Parse(before).Select(e => e.Raw), StringComparer.Ordinal);
        var command = line.TrimStart('!');
        var fresh = TraceErrorLog.Parse(after).Where(e => !old.Contains(e.Raw) && e.Subsystem.StartsWith("hist:", StringComparison.Ordinal)).ToList();
        return fresh.FirstOrDefault(e => e.Command == command || command.StartsWith(e.Command, StringComparison.Ordinal)) ?? fresh.FirstOrDefault();
    }
}
