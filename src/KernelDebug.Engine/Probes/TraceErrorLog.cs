using KernelDebug.Host;

namespace KernelDebug.Probes;

/// <summary>One entry of tracefs error_log: "[ts] subsystem: error: message", the command, and a caret under the bad spot.</summary>
public sealed record TraceErrorLogEntry(string Timestamp, string Subsystem, string Message, string Command, int Position)
{
    /// <summary>The whole entry text; entries are unique by timestamp, which tells new entries from old ones.</summary>
    public string Raw { get; init; } = string.Empty;
}

/// <summary>
/// Reads tracefs error_log without clearing it (it is shared by everyone on the host): the entry for a refused write is
/// the new one (absent from a snapshot taken before the write) whose Command: line is the command we wrote.
/// </summary>
public static class TraceErrorLog
{
    private const string CommandPrefix = "  Command: ";

    public static string? Snapshot(string errorLogPath) => ControlFile.TryReadText(errorLogPath, out _);

    public static IReadOnlyList<TraceErrorLogEntry> Parse(string text)
    {
        var list = new List<TraceErrorLogEntry>();
        var lines = text.Split('\n');
        for (int i = 0; i + 2 < lines.Length; i++)
        {
            var head = lines[i];
            if (!head.StartsWith('[') || !lines[i + 1].StartsWith(CommandPrefix, StringComparison.Ordinal)) continue;
            int close = head.IndexOf(']');
            if (close < 0) continue;
            var rest = head[(close + 1)..].Trim();
            int err = rest.IndexOf(": error: ", StringComparison.Ordinal);
            string subsystem = err >= 0 ? rest[..err] : string.Empty;
            string message = err >= 0 ? rest[(err + ": error: ".Length)..] : rest;
            var command = lines[i + 1][CommandPrefix.Length..];
            int caret = lines[i + 2].IndexOf('^');
            list.Add(new TraceErrorLogEntry(head[1..close].Trim(), subsystem, message.Trim(), command, caret < 0 ? -1 : caret - CommandPrefix.Length)
            {
                Raw = string.Join('\n', lines[i], lines[i + 1], lines[i + 2]),
            });
            i += 2;
        }
        return list;
    }

    /// <summary>
    /// The first entry in after that is not in before and whose command is the given one (words joined by single
    /// spaces). The first, because one refusal can log twice (e.g. an eprobe's %reg: "Invalid $-variable", then
    /// "Invalid fetch argument"), and the first names the cause.
    /// </summary>
    public static TraceErrorLogEntry? FindNew(string? before, string? after, string command)
    {
        if (after is null) return null;
        var old = new HashSet<string>(before is null ? Array.Empty<string>() : Parse(before).Select(e => e.Raw), StringComparer.Ordinal);
        var normalized = string.Join(' ', ProbeValidator.Split(command));
        return Parse(after).FirstOrDefault(e => !old.Contains(e.Raw) && e.Command == normalized);
    }
}
