using System.Collections;
using System.Globalization;
using System.Management.Automation;
using System.Runtime.InteropServices;
using KernelDebug.Native;
using KernelDebug.Syscall;

namespace KernelDebug;

/// <summary>
/// One -Inject rule of Get-SyscallTrace / Measure-Syscall, as the user wrote it (strace's -e inject=SET:error=…:when=…).
/// Built from a hashtable (@{ Syscall='openat'; Error='ENOENT'; When='2+' }) or strace's own text
/// ('openat:error=ENOENT:when=2+'); names are checked when tracing starts (<see cref="Compile"/>), with the module's ErrorIds.
/// </summary>
public sealed class SyscallInjection
{
    /// <summary>Syscall names, wildcards or classes (%file), as -Syscall takes them.</summary>
    public string[] Syscall { get; set; } = Array.Empty<string>();
    /// <summary>An errno name (ENOENT) or number 1..4095: the call fails with it.</summary>
    public string? Error { get; set; }
    /// <summary>The call "succeeds" with this value instead of running.</summary>
    public long? ReturnValue { get; set; }
    /// <summary>A signal (SIGSEGV, 11) delivered on entering the call.</summary>
    public string? Signal { get; set; }
    /// <summary>How long the tracee is held on entering / leaving the call.</summary>
    public TimeSpan? DelayEnter { get; set; }
    public TimeSpan? DelayExit { get; set; }
    /// <summary>strace's when=: first, first+, first+step, first..last, first..last+step (1-based, counted per syscall and thread).</summary>
    public string? When { get; set; }

    public override string ToString()
    {
        var parts = new List<string> { string.Join(",", Syscall) };
        if (Error is not null) parts.Add("error=" + Error);
        if (ReturnValue is { } r) parts.Add("retval=" + r.ToString(CultureInfo.InvariantCulture));
        if (Signal is not null) parts.Add("signal=" + Signal);
        if (DelayEnter is { } de) parts.Add($"delay_enter={(long)(de.Ticks / 10)}");
        if (DelayExit is { } dx) parts.Add($"delay_exit={(long)(dx.Ticks / 10)}");
        if (When is not null) parts.Add("when=" + When);
        return string.Join(":", parts);
    }

    private static readonly string[] Keys = { "Syscall", "Error", "ReturnValue", "Signal", "DelayEnter", "DelayExit", "When" };

    /// <summary>A hashtable's keys (case-insensitive; strace's retval/delay_enter/delay_exit spellings too) as a rule.</summary>
    public static SyscallInjection FromDictionary(IDictionary table)
    {
        var r = new SyscallInjection();
        foreach (DictionaryEntry e in table)
        {
            var key = e.Key?.ToString() ?? "";
            var value = e.Value is PSObject pso ? pso.BaseObject : e.Value;
            switch (key.Replace("_", "", StringComparison.Ordinal).ToUpperInvariant())
            {
                case "SYSCALL" or "NAME":
                    r.Syscall = value switch
                    {
                        string s => new[] { s },
                        IEnumerable list => list.Cast<object?>().Select(o => (o is PSObject p ? p.BaseObject : o)?.ToString() ?? "").ToArray(),
                        _ => new[] { value?.ToString() ?? "" },
                    };
                    break;
                case "ERROR" or "ERRNO": r.Error = value?.ToString(); break;
                case "RETURNVALUE" or "RETVAL": r.ReturnValue = Convert.ToInt64(value, CultureInfo.InvariantCulture); break;
                case "SIGNAL": r.Signal = value?.ToString(); break;
                case "DELAYENTER": r.DelayEnter = ToDelay(value, key); break;
                case "DELAYEXIT": r.DelayExit = ToDelay(value, key); break;
                case "WHEN": r.When = value?.ToString(); break;
                default:
                    throw new ArgumentException($"Unknown -Inject key '{key}'. The keys are {string.Join(", ", Keys)}.");
            }
        }
        return r;
    }

    /// <summary>strace's own text: SET:error=E:retval=N:signal=S:delay_enter=US:delay_exit=US:when=EXPR (delays in microseconds, or with a unit: 10ms, 1s).</summary>
    public static SyscallInjection Parse(string text)
    {
        var parts = text.Split(':');
        var r = new SyscallInjection { Syscall = parts[0].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) };
        foreach (var p in parts.Skip(1))
        {
            int eq = p.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new ArgumentException($"'{p}' in -Inject '{text}' is not key=value.");
            var key = p[..eq];
            var value = p[(eq + 1)..];
            switch (key)
            {
                case "error": r.Error = value; break;
                case "retval":
                    r.ReturnValue = long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
                        : throw new ArgumentException($"retval '{value}' in -Inject '{text}' is not a number.");
                    break;
                case "signal": r.Signal = value; break;
                case "delay_enter": r.DelayEnter = ParseMicroseconds(value, text); break;
                case "delay_exit": r.DelayExit = ParseMicroseconds(value, text); break;
                case "when": r.When = value; break;
                default: throw new ArgumentException($"Unknown key '{key}' in -Inject '{text}'. The keys are error, retval, signal, delay_enter, delay_exit and when.");
            }
        }
        return r;
    }

    private static TimeSpan ToDelay(object? value, string key) => value switch
    {
        TimeSpan t => t,
        string s => ParseMicroseconds(s, key),
        null => throw new ArgumentException($"-Inject {key} needs a TimeSpan or microseconds."),
        _ => TimeSpan.FromTicks(Convert.ToInt64(value, CultureInfo.InvariantCulture) * 10),
    };

    /// <summary>strace's time format: a number of microseconds, or with a suffix s, ms, us, ns.</summary>
    private static TimeSpan ParseMicroseconds(string value, string context)
    {
        var units = new (string Suffix, double Ticks)[] { ("ns", 0.01), ("us", 10), ("ms", 10_000), ("s", 10_000_000) };
        foreach (var (suffix, ticks) in units)
        {
            if (value.EndsWith(suffix, StringComparison.Ordinal) &&
                double.TryParse(value[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= 0)
                return TimeSpan.FromTicks((long)(n * ticks));
        }
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var us) && us >= 0)
            return TimeSpan.FromTicks((long)(us * 10));
        throw new ArgumentException($"Delay '{value}' in -Inject '{context}' is not a time (microseconds, or a number with s, ms, us or ns).");
    }

    /// <summary>Checks the names against the syscall table and the errno table and makes the rule the tracer applies.</summary>
    public InjectionRule Compile(Architecture arch)
    {
        string target = ToString();
        if (Syscall.Length == 0 || Syscall.All(string.IsNullOrWhiteSpace))
            throw Invalid("-Inject needs Syscall: the names (or classes) of the calls to tamper with.", target);
        var numbers = SyscallTable.Resolve(Syscall, arch);
        if (Error is not null && ReturnValue is not null)
            throw Invalid("-Inject takes Error or ReturnValue, not both (as strace's error= and retval=).", target);
        if (Error is null && ReturnValue is null && Signal is null && DelayEnter is null && DelayExit is null)
            throw Invalid("-Inject needs at least one of Error, ReturnValue, Signal, DelayEnter or DelayExit.", target);
        int? errno = null;
        if (Error is not null)
        {
            if (ErrnoNames.TryNumber(Error, out int e)) errno = e;
            else
                throw new KernelDebugException(
                    $"Unknown errno '{Error}' in -Inject. Use a name such as ENOENT, EACCES, EINTR, or a number from 1 to 4095.",
                    "UnknownErrno", ErrorCategory.InvalidArgument) { Target = Error };
        }
        int? signal = null;
        if (Signal is not null)
        {
            if (SyscallConstants.TrySignalNumber(Signal, out int s)) signal = s;
            else
                throw new KernelDebugException($"Unknown signal '{Signal}' in -Inject. Use a name such as SIGSEGV or SIGUSR1, or a number from 1 to 64.",
                    "UnknownSignal", ErrorCategory.InvalidArgument) { Target = Signal };
        }
        var (first, last, step) = ParseWhen(When, target);
        return new InjectionRule(numbers, errno, ReturnValue, signal, DelayEnter, DelayExit, first, last, step, target);
    }

    /// <summary>first[..last][+[step]]: step 0 is "only first"; strace's ranges: first, step 1..65535, last 1..65534.</summary>
    internal static (int First, int Last, int Step) ParseWhen(string? when, string target)
    {
        if (string.IsNullOrWhiteSpace(when)) return (1, int.MaxValue, 1);
        var m = System.Text.RegularExpressions.Regex.Match(when.Trim(), @"^(\d+)(?:\.\.(\d+))?(\+(\d*))?$");
        if (!m.Success)
            throw Invalid($"When '{when}' is not first, first+, first+step, first..last or first..last+step (strace's when=).", target);
        int first = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        int last = m.Groups[2].Success ? int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) : int.MaxValue;
        int step = !m.Groups[3].Success ? 0 : m.Groups[4].Value.Length == 0 ? 1 : int.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture);
        if (first is < 1 or > 65535 || (m.Groups[2].Success && (last < first || last > 65534)) || (m.Groups[4].Value.Length > 0 && step is < 1 or > 65535))
            throw Invalid($"When '{when}' is out of range: first and step are 1..65535, last is first..65534.", target);
        if (!m.Groups[3].Success && m.Groups[2].Success) step = 1; // first..last: every call in the range
        return (first, last, step);
    }

    private static KernelDebugException Invalid(string message, string target) =>
        new(message, "InvalidInjection", ErrorCategory.InvalidArgument) { Target = target };
}
