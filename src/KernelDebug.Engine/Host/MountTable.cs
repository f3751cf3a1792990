namespace KernelDebug.Host;

/// <summary>One line of /proc/self/mountinfo.</summary>
public sealed record MountEntry(string MountPoint, string FileSystemType, string Source, string Options);

/// <summary>Reads /proc/self/mountinfo (proc(5)); octal escapes in paths are decoded.</summary>
public static class MountTable
{
    public static IReadOnlyList<MountEntry> Read(string path = "/proc/self/mountinfo")
    {
        var list = new List<MountEntry>();
        foreach (var line in File.ReadLines(path))
        {
            if (Parse(line) is { } e) list.Add(e);
        }
        return list;
    }

    /// <summary>Parses one mountinfo line: fields 5 (mount point), then after " - ": type, source, super options.</summary>
    public static MountEntry? Parse(string line)
    {
        int sep = line.IndexOf(" - ", StringComparison.Ordinal);
        if (sep < 0) return null;
        var head = line[..sep].Split(' ');
        var tail = line[(sep + 3)..].Split(' ');
        if (head.Length < 6 || tail.Length < 2) return null;
        return new MountEntry(Unescape(head[4]), tail[0], Unescape(tail[1]), tail.Length > 2 ? tail[2] : string.Empty);
    }

    /// <summary>The first mount point of a file-system type, or null.</summary>
    public static string? Find(string fileSystemType) =>
        Read().FirstOrDefault(m => m.FileSystemType == fileSystemType)?.MountPoint;

    internal static string Unescape(string s)
    {
        if (!s.Contains('\\')) return s;
        var sb = new System.Text.StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && IsOctal(s, i + 1))
            {
                sb.Append((char)Convert.ToInt32(s.Substring(i + 1, 3), 8));
                i += 3;
            }
            else sb.Append(s[i]);
        }
        return sb.ToString();
    }

    private static bool IsOctal(string s, int start) =>
        start + 3 <= s.Length && s.Substring(start, 3).All(c => c is >= '0' and <= '7');
}
