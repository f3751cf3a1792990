using System.Globalization;
using System.Management.Automation;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using KernelDebug.Native;

namespace KernelDebug.Bpf;

/// <summary>
/// Turns bpftrace's output into objects: each line of `-f json` on stdout (attached_probes, printf, time, join, value,
/// map, hist, stats, lost_events…) and each diagnostic on stderr ("stdin:1:24-28: ERROR: message" and its source lines).
/// </summary>
public sealed class BpftraceOutputParser
{
    private readonly StringBuilder _printf = new();
    private bool _attached;

    /// <summary>Objects for one stdout line (printf text is emitted per complete line).</summary>
    public IEnumerable<object> ParseLine(string line)
    {
        if (string.IsNullOrWhiteSpace(line)) yield break;
        JsonElement root = default;
        bool json = true;
        try { root = JsonDocument.Parse(line).RootElement.Clone(); }
        catch (JsonException) { json = false; }
        // bpftrace prints some messages as plain text on stdout even with -f json ("No probes to attach"); once the probes
        // are attached, plain lines are the output of the command it started (-c), which shares its stdout.
        if (!json || root.ValueKind != JsonValueKind.Object)
        {
            yield return _attached ? new BpftraceDiagnostic("output", line) { Stream = "stdout" } : new BpftraceDiagnostic("text", line.Trim());
            yield break;
        }
        string type = root.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "";
        var data = root.TryGetProperty("data", out var d) ? d : default;
        switch (type)
        {
            case "printf":
                _printf.Append(data.GetString());
                foreach (var l in TakeLines(false)) yield return new BpftraceText { Kind = "printf", Text = l };
                break;
            case "time" or "join" or "cat" or "system" or "syscall":
                foreach (var l in TakeLines(true)) yield return new BpftraceText { Kind = "printf", Text = l };
                yield return new BpftraceText { Kind = type, Text = (data.ValueKind == JsonValueKind.String ? data.GetString() : data.GetRawText())!.TrimEnd('\n') };
                break;
            case "value":
                foreach (var l in TakeLines(true)) yield return new BpftraceText { Kind = "printf", Text = l };
                var v = ToValue(data);
                yield return new BpftraceText { Kind = "value", Text = data.ValueKind == JsonValueKind.String ? data.GetString()! : data.GetRawText(), Value = v };
                break;
            case "map" or "hist" or "stats":
                foreach (var l in TakeLines(true)) yield return new BpftraceText { Kind = "printf", Text = l };
                foreach (var prop in data.EnumerateObject())
                    foreach (var o in MapObjects(type, prop.Name, prop.Value)) yield return o;
                break;
            case "lost_events":
                yield return new BpftraceDiagnostic("warning", $"bpftrace lost {data.GetRawText()} events (the perf buffer was full).");
                break;
            case "attached_probes":
                _attached = true;
                yield return new BpftraceDiagnostic("verbose", $"bpftrace attached {(data.TryGetProperty("probes", out var n) ? n.GetRawText() : "?")} probes.");
                break;
            default:
                yield return new BpftraceText { Kind = type, Text = data.ValueKind == JsonValueKind.Undefined ? line : data.GetRawText() };
                break;
        }
    }

    /// <summary>What is left of printf text without a final newline, at the end of the run.</summary>
    public IEnumerable<object> Flush() => TakeLines(true).Select(l => (object)new BpftraceText { Kind = "printf", Text = l });

    private IEnumerable<string> TakeLines(bool all)
    {
        var text = _printf.ToString();
        int last = text.LastIndexOf('\n');
        string complete = all ? text : last < 0 ? "" : text[..(last + 1)];
        _printf.Clear();
        if (!all && last >= 0) _printf.Append(text[(last + 1)..]);
        else if (!all) _printf.Append(text);
        if (complete.Length == 0) return Array.Empty<string>();
        if (complete.EndsWith('\n')) complete = complete[..^1];
        return complete.Split('\n');
    }

    private static IEnumerable<object> MapObjects(string type, string name, JsonElement value)
    {
        bool isHist = type == "hist";
        if (isHist && value.ValueKind == JsonValueKind.Array) { yield return Histogram(name, null, value); yield break; }
        if (type == "stats" && value.ValueKind == JsonValueKind.Object && value.TryGetProperty("count", out _) && value.TryGetProperty("total", out _))
        { yield return Stats(name, null, value); yield break; }
        if (value.ValueKind != JsonValueKind.Object)
        {
            yield return new BpftraceMap { Name = name, Value = ToValue(value) };
            yield break;
        }
        if (isHist)
        {
            foreach (var e in value.EnumerateObject()) yield return Histogram(name, TypedKey(e.Name), e.Value);
            yield break;
        }
        if (type == "stats" && value.EnumerateObject().All(e => e.Value.ValueKind == JsonValueKind.Object))
        {
            foreach (var e in value.EnumerateObject()) yield return Stats(name, TypedKey(e.Name), e.Value);
            yield break;
        }
        var entries = new ItemDictionary<object, object?>();
        foreach (var e in value.EnumerateObject()) entries.TryAdd(TypedKey(e.Name), ToValue(e.Value));
        yield return new BpftraceMap { Name = name, Entries = entries };
    }

    private static BpftraceStats Stats(string name, object? key, JsonElement v) => new()
    {
        Name = name, Key = key,
        Count = v.GetProperty("count").GetInt64(), Average = v.GetProperty("average").GetInt64(), Total = v.GetProperty("total").GetInt64(),
    };

    private const int BarWidth = 52;

    private static BpftraceHistogram Histogram(string name, object? key, JsonElement buckets)
    {
        var raw = buckets.EnumerateArray().Select(b => (
            Min: b.TryGetProperty("min", out var mn) ? mn.GetInt64() : (long?)null,
            Max: b.TryGetProperty("max", out var mx) ? mx.GetInt64() : (long?)null,
            Count: b.GetProperty("count").GetUInt64())).ToList();
        ulong top = raw.Count == 0 ? 0 : raw.Max(b => b.Count);
        return new BpftraceHistogram
        {
            Name = name,
            Key = key,
            Buckets = raw.Select(b => new BpftraceHistogramBucket
            {
                Histogram = name, Key = key, Min = b.Min, Max = b.Max, Count = b.Count,
                Range = Range(b.Min, b.Max),
                // bpftrace scales in single precision: (int)(count / (float)max * 52).
                Bar = top == 0 ? "" : new string('@', (int)((float)b.Count / top * BarWidth)),
            }).ToArray(),
        };
    }

    private static string Range(long? min, long? max) => (min, max) switch
    {
        (null, null) => "(...)",
        (null, long hi) => $"(..., {Label(hi + 1)})",
        (long lo, null) => $"[{Label(lo)}, ...)",
        (long lo, long hi) when lo == hi => $"[{lo}]",
        (long lo, long hi) => $"[{Label(lo)}, {Label(hi + 1)})",
    };

    /// <summary>
    /// A bucket bound as bpftrace labels it: multiples of 1M and 1K with a suffix (lhist), powers of two from 1G up as
    /// G and T (hist, whose other bounds are powers of two and read the same by the K/M rule).
    /// </summary>
    public static string Label(long n)
    {
        const long K = 1024, M = K * K, G = M * K, T = G * K;
        if (n == 0) return "0";
        if (n >= G && (n & (n - 1)) == 0) return n >= T ? $"{n / T}T" : $"{n / G}G";
        if (n % M == 0) return $"{n / M}M";
        if (n % K == 0) return $"{n / K}K";
        return n.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>JSON values as .NET values: integers as Int32 where they fit, else Int64/UInt64; tuples as object[].</summary>
    public static object? ToValue(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Number when e.TryGetInt32(out var i) => i,
        JsonValueKind.Number when e.TryGetInt64(out var l) => l,
        JsonValueKind.Number when e.TryGetUInt64(out var u) => u,
        JsonValueKind.Number => e.GetDouble(),
        JsonValueKind.String => e.GetString(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Array => e.EnumerateArray().Select(ToValue).ToArray(),
        JsonValueKind.Object => e.EnumerateObject().ToDictionary(p => p.Name, p => ToValue(p.Value)),
        _ => null,
    };

    /// <summary>
    /// bpftrace's JSON gives map keys as text ("123", "bash", "1,bash" for @m[pid, comm]). Integers become Int32/Int64,
    /// several keys become a Tuple of typed parts (so $m.Entries[[Tuple]::Create(1, 'bash')] finds them).
    /// </summary>
    public static object TypedKey(string text)
    {
        if (text.Contains('\n') || !text.Contains(',')) return Scalar(text);
        var parts = text.Split(',').Select(Scalar).ToArray();
        if (parts.Length > 7) return text;
        var tupleType = Type.GetType($"System.Tuple`{parts.Length}")!.MakeGenericType(parts.Select(p => p.GetType()).ToArray());
        return Activator.CreateInstance(tupleType, parts)!;
    }

    private static object Scalar(string s)
    {
        if (int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i)) return i;
        if (long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)) return l;
        if (ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var u)) return u;
        return s;
    }

    private static readonly Regex ErrorLine = new(@"^(?<file>[^:\s]+):(?<line>\d+):(?<col>\d+)(?:-(?<end>\d+))?: (?<level>ERROR|WARNING): (?<msg>.*)$", RegexOptions.Compiled);

    /// <summary>
    /// Diagnostics for bpftrace's stderr when it started a command (-c) after the first readyLines lines: later lines
    /// that are not bpftrace's own ERROR/WARNING messages are the command's stderr, kept verbatim as output.
    /// </summary>
    public static IEnumerable<BpftraceDiagnostic> ParseStderr(IReadOnlyList<string> lines, int readyLines)
    {
        int cut = readyLines < 0 ? lines.Count : Math.Min(readyLines, lines.Count);
        foreach (var d in ParseStderr(lines.Take(cut))) yield return d;
        foreach (var line in lines.Skip(cut))
        {
            bool own = line.StartsWith("ERROR: ", StringComparison.Ordinal) || line.StartsWith("WARNING: ", StringComparison.Ordinal) || ErrorLine.IsMatch(line);
            if (own) foreach (var d in ParseStderr(new[] { line })) yield return d;
            else if (line.Length > 0) yield return new BpftraceDiagnostic("output", line) { Stream = "stderr" };
        }
    }

    /// <summary>
    /// Groups stderr lines into diagnostics: a located "file:line:col-end: ERROR: message" with the source line and
    /// squiggle that follow it, or a plain "ERROR: message". The harmless RLIMIT_MEMLOCK complaint becomes verbose.
    /// </summary>
    public static IEnumerable<BpftraceDiagnostic> ParseStderr(IEnumerable<string> lines)
    {
        BpftraceDiagnostic? current = null;
        foreach (var line in lines)
        {
            var m = ErrorLine.Match(line);
            if (m.Success)
            {
                if (current is not null) yield return current;
                current = new BpftraceDiagnostic(m.Groups["level"].Value == "ERROR" ? "error" : "warning", m.Groups["msg"].Value)
                {
                    File = m.Groups["file"].Value, Line = int.Parse(m.Groups["line"].Value), Column = int.Parse(m.Groups["col"].Value),
                    EndColumn = m.Groups["end"].Success ? int.Parse(m.Groups["end"].Value) : null,
                };
                continue;
            }
            if (line.StartsWith("ERROR: ", StringComparison.Ordinal) || line.StartsWith("WARNING: ", StringComparison.Ordinal))
            {
                if (current is not null) yield return current;
                bool error = line[0] == 'E';
                string msg = line[(error ? 7 : 9)..];
                current = msg.Contains("RLIMIT_MEMLOCK", StringComparison.Ordinal)
                    ? new BpftraceDiagnostic("verbose", msg)
                    : new BpftraceDiagnostic(error ? "error" : "warning", msg);
                continue;
            }
            if (current is { Level: "error" or "warning" } && current.File is not null && current.Context.Count < 2)
            {
                current.Context.Add(line);
                continue;
            }
            if (current is not null) { yield return current; current = null; }
            if (line.Trim().Length > 0) yield return new BpftraceDiagnostic("text", line.Trim());
        }
        if (current is not null) yield return current;
    }
}

/// <summary>A message of bpftrace: an error (with its place in the program), a warning, or a verbose note.</summary>
public sealed class BpftraceDiagnostic
{
    public BpftraceDiagnostic(string level, string message) { Level = level; Message = message; }

    /// <summary>error, warning, verbose, text (an unprefixed line: a warning, or the reason when bpftrace fails), or output (a line of the traced command).</summary>
    public string Level { get; }
    public string Message { get; }

    /// <summary>For output: the traced command's stream the line came from, stdout or stderr (the tags of its information record).</summary>
    public string? Stream { get; init; }
    public string? File { get; init; }
    public int? Line { get; init; }
    public int? Column { get; init; }
    public int? EndColumn { get; init; }
    /// <summary>The source line and squiggle bpftrace prints under a located error.</summary>
    public List<string> Context { get; } = new();

    public KernelDebugException ToException()
    {
        var where = File is null ? "" : $"{File}:{Line}:{Column}: ";
        var text = Context.Count == 0 ? $"bpftrace: {where}{Message}" : $"bpftrace: {where}{Message}\n{string.Join("\n", Context)}";
        return new KernelDebugException(text, File is null ? "BpftraceError" : "BpftraceProgramError",
            File is null ? ErrorCategory.InvalidOperation : ErrorCategory.ParserError) { Position = Column is null ? null : Column - 1, Target = File };
    }
}
