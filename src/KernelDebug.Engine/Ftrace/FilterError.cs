namespace KernelDebug.Ftrace;

/// <summary>
/// The kernel's explanation of a refused event filter. After a failed write the event's filter file reads
///   prev_pid == abc
///                ^
///   parse_error: Invalid value (did you forget quotes)?
/// and the instance's error_log has the same as "... error: &lt;message&gt;" / "  Command: &lt;filter&gt;" / caret line.
/// error_log is shared and never cleared here: the newest entry whose Command: line is our filter is ours.
/// </summary>
public static class FilterError
{
    public static (string? Message, int? Position) Read(string? filterFileText, string? errorLogText, string filter)
    {
        var fromFile = ParseFilterFile(filterFileText, filter);
        if (fromFile.Message is not null) return fromFile;
        return ParseErrorLog(errorLogText, filter);
    }

    public static (string? Message, int? Position) ParseFilterFile(string? text, string filter)
    {
        if (string.IsNullOrEmpty(text)) return (null, null);
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if (!lines[i].StartsWith("parse_error:", StringComparison.Ordinal)) continue;
            var message = lines[i]["parse_error:".Length..].Trim();
            int? position = null;
            if (i >= 1)
            {
                int caret = lines[i - 1].IndexOf('^');
                if (caret >= 0 && lines[i - 1].Trim() == "^") position = caret;
            }
            return (message, position);
        }
        return (null, null);
    }

    public static (string? Message, int? Position) ParseErrorLog(string? text, string filter)
    {
        if (string.IsNullOrEmpty(text)) return (null, null);
        var lines = text.Split('\n');
        for (int i = lines.Length - 1; i >= 1; i--)
        {
            const string command = "  Command: ";
            if (!lines[i].StartsWith(command, StringComparison.Ordinal)) continue;
            if (lines[i][command.Length..].TrimEnd() != filter.TrimEnd()) continue;
            var header = lines[i - 1];
            int at = header.IndexOf("error: ", StringComparison.Ordinal);
            // "[ 1121.87] event filter parse error: error: <message>": the message follows the last "error: ".
            int last = header.LastIndexOf("error: ", StringComparison.Ordinal);
            var message = at < 0 ? header.Trim() : header[(last + "error: ".Length)..].Trim();
            int? position = null;
            if (i + 1 < lines.Length)
            {
                int caret = lines[i + 1].IndexOf('^');
                if (caret >= command.Length) position = caret - command.Length;
            }
            return (message, position);
        }
        return (null, null);
    }
}
