using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using KernelDebug.Native;

namespace KernelDebug.Ftrace;

/// <summary>
/// The fallback for kernels without per-CPU trace_pipe_raw: the kernel's text lines (trace_pipe, trace) parsed back
/// into TraceRecords. Less exact than the binary path (microsecond timestamps; fields only as far as the print format
/// shows them as name=value or name: value), so Receive-TraceEvent uses it only when the binary files are missing.
/// </summary>
public sealed class TraceTextParser
{
    private static readonly Regex LineRx = new(
        @"^\s*(?<comm>.*)-(?<pid>\d+)\s+\[(?<cpu>\d+)\]\s+(?:(?<flags>[^\s\[]{4,6})\s+)?(?<ts>\d+)\.(?<us>\d{6}):\s+(?<event>[^:(\s]+)(?<rest>.*)$",
        RegexOptions.Compiled);

    private readonly Dictionary<string, TraceEventFormat> _byPrintedName = new(StringComparer.Ordinal);

    /// <summary>A parser for the events enabled in an instance (set_event) and trace_marker's prints.</summary>
    public static TraceTextParser ForInstance(FtraceInstance instance)
    {
        var names = (instance.ReadOptional("set_event") ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(e => e.Split(':', 2)).Where(p => p.Length == 2).Select(p => (p[0], p[1])).Append(("ftrace", "print"));
        var formats = new List<TraceEventFormat>();
        foreach (var (system, name) in names)
        {
            try { formats.Add(TraceEventCatalog.GetFormat(system, name)); } catch (KernelDebugException) { }
        }
        return new TraceTextParser(formats);
    }

    /// <param name="formats">The events that can appear (the instance's enabled events).</param>
    public TraceTextParser(IEnumerable<TraceEventFormat> formats)
    {
        foreach (var f in formats)
        {
            // How the kernel's text names them: syscalls as sys_openat(...) / sys_openat -> ret, trace_marker as tracing_mark_write.
            var printed = f.System == "syscalls" ? f.Name.Replace("sys_enter_", "sys_").Replace("sys_exit_", "sys_")
                : f.System == "ftrace" && f.Name == "print" ? "tracing_mark_write" : f.Name;
            var key = f.System == "syscalls" ? printed + (f.Name.StartsWith("sys_exit_", StringComparison.Ordinal) ? "->" : "(") : printed;
            _byPrintedName[key] = f;
        }
    }

    public TraceRecord? Parse(string line)
    {
        var m = LineRx.Match(line);
        if (!m.Success) return null;
        var name = m.Groups["event"].Value;
        var rest = m.Groups["rest"].Value;
        TraceEventFormat? format;
        if (!_byPrintedName.TryGetValue(name, out format))
        {
            var trimmed = rest.TrimStart();
            var key = name + (trimmed.StartsWith("->", StringComparison.Ordinal) ? "->" : trimmed.StartsWith('(') ? "(" : "");
            if (!_byPrintedName.TryGetValue(key, out format)) return null;
        }
        rest = rest.TrimStart(':', ' ');
        var fields = format.FieldArray;
        var values = new object?[fields.Length];
        if (format.System == "ftrace" && format.Name == "print")
        {
            int b = Array.FindIndex(fields, f => f.Name == "buf");
            if (b >= 0) values[b] = rest + "\n";
        }
        else
        {
            for (int i = 0; i < fields.Length; i++) values[i] = FieldValue(fields, i, rest);
            int arrow = rest.IndexOf("-> ", StringComparison.Ordinal);
            int ret = Array.FindIndex(fields, f => f.Name == "ret");
            if (format.System == "syscalls" && arrow >= 0 && ret >= 0)
                values[ret] = Convert(fields[ret], rest[(arrow + 3)..].Trim());
        }
        ulong ts = ulong.Parse(m.Groups["ts"].Value, CultureInfo.InvariantCulture) * 1_000_000_000UL +
                   ulong.Parse(m.Groups["us"].Value, CultureInfo.InvariantCulture) * 1000UL;
        return new TraceRecord
        {
            Timestamp = ts, Cpu = int.Parse(m.Groups["cpu"].Value, CultureInfo.InvariantCulture),
            ProcessId = int.Parse(m.Groups["pid"].Value, CultureInfo.InvariantCulture), Comm = m.Groups["comm"].Value.Trim(),
            System = format.System, Name = format.Name, EventId = format.Id,
            Fields = new TraceFieldValues(format.FieldNames, values),
        };
    }

    /// <summary>The printed value of field i: from after "name=" or "name: " to the next field's key.</summary>
    private static object? FieldValue(TraceEventField[] fields, int i, string rest)
    {
        int start = FindKey(rest, fields[i].Name, out int valueStart);
        if (start < 0) return null;
        int end = rest.Length;
        for (int j = 0; j < fields.Length; j++)
        {
            if (j == i) continue;
            int k = FindKey(rest, fields[j].Name, out _, valueStart);
            if (k >= 0 && k < end) end = k;
        }
        var text = rest[valueStart..end].TrimEnd(' ', ',', ')');
        if (!fields[i].IsString)
        {
            int sp = text.IndexOf(' ');
            if (sp > 0) text = text[..sp];
        }
        return Convert(fields[i], text);
    }

    private static int FindKey(string rest, string name, out int valueStart, int from = 0)
    {
        foreach (var sep in new[] { "=", ": " })
        {
            int i = from;
            while ((i = rest.IndexOf(name + sep, i, StringComparison.Ordinal)) >= 0)
            {
                if (i == 0 || rest[i - 1] is ' ' or ',' or '(')
                {
                    valueStart = i + name.Length + sep.Length;
                    return i;
                }
                i++;
            }
        }
        valueStart = -1;
        return -1;
    }

    private static object? Convert(TraceEventField f, string text)
    {
        if (f.IsString) return text;
        if (f.Kind != TraceFieldKind.Scalar) return text;
        ulong u;
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            if (!ulong.TryParse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out u)) return text;
        }
        else if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l)) u = unchecked((ulong)l);
        else if (!ulong.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out u)) return text; // symbolic (prev_state=R+)
        return (f.Size, f.Signed) switch
        {
            (1, true) => (sbyte)u, (1, false) => (byte)u,
            (2, true) => (short)u, (2, false) => (ushort)u,
            (4, true) => (int)u, (4, false) => (uint)u,
            (8, true) => (long)u, _ => (object)u,
        };
    }

    /// <summary>
    /// Streams an instance's trace_pipe (the text fallback): blocking reads with poll, lines parsed as they complete.
    /// Runs until the sink returns false, the token is cancelled, Count or Duration, or (NoWait) no more data.
    /// </summary>
    public static long ReadPipe(FtraceInstance instance, TraceTextParser parser, Func<TraceRecord, bool> sink, TraceReadOptions options, CancellationToken token)
    {
        var path = instance.FilePath("trace_pipe");
        using var fd = Interop.Open(path, Interop.O_RDONLY | Interop.O_NONBLOCK);
        var buffer = new byte[65536];
        var pending = new StringBuilder();
        long delivered = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!token.IsCancellationRequested)
        {
            if (options.Duration is TimeSpan d && clock.Elapsed >= d) break;
            int n;
            unsafe
            {
                fixed (byte* p = buffer) n = (int)Interop.read(fd, p, (nuint)buffer.Length);
            }
            if (n < 0)
            {
                int errno = Errno.Last;
                if (errno == Errno.EINTR) continue;
                if (errno != Errno.EAGAIN) throw new KernelDebugException(errno, "read", path);
                if (options.NoWait) break;
                unsafe
                {
                    var pfd = new Interop.PollFd { Fd = fd.Fd, Events = Interop.POLLIN };
                    Interop.poll(&pfd, 1, options.PollMilliseconds);
                }
                continue;
            }
            if (n == 0) break;
            pending.Append(Encoding.UTF8.GetString(buffer, 0, n));
            var text = pending.ToString();
            int last = text.LastIndexOf('\n');
            if (last < 0) continue;
            pending.Clear().Append(text, last + 1, text.Length - last - 1);
            foreach (var line in text[..last].Split('\n'))
            {
                if (parser.Parse(line) is not { } r) continue;
                if (!sink(r)) return delivered;
                delivered++;
                if (options.Count is long c && delivered >= c) return delivered;
            }
        }
        return delivered;
    }
}
