using System.Text;
using KernelDebug.Native;

namespace KernelDebug.Host;

/// <summary>
/// Reads and writes kernel control files (tracefs, debugfs, procfs) with errno preserved.
/// Writes are O_APPEND and one definition per write(); nothing here truncates unless the caller asks by name.
/// </summary>
public static class ControlFile
{
    /// <summary>Reads a whole control file as text (they report size 0, so read to end of file).</summary>
    public static string ReadText(string path)
    {
        using var fd = Interop.Open(path, Interop.O_RDONLY);
        return Encoding.UTF8.GetString(ReadToEnd(fd, path));
    }

    /// <summary>Like ReadText, but returns null and the errno instead of throwing.</summary>
    public static string? TryReadText(string path, out int errno)
    {
        using var fd = Interop.TryOpen(path, Interop.O_RDONLY, out errno);
        if (fd is null) return null;
        try { return Encoding.UTF8.GetString(ReadToEnd(fd, path)); }
        catch (KernelDebugException e) { errno = e.Errno; return null; }
    }

    public static byte[] ReadToEnd(SafeFileDescriptor fd, string path)
    {
        var ms = new MemoryStream();
        var buf = new byte[65536];
        int n;
        while ((n = Interop.Read(fd, buf, path)) > 0) ms.Write(buf, 0, n);
        return ms.ToArray();
    }

    /// <summary>Appends one definition or command in a single write() on an O_APPEND descriptor.</summary>
    public static void Append(string path, string text)
    {
        using var fd = Interop.Open(path, Interop.O_WRONLY | Interop.O_APPEND);
        Interop.Write(fd, Encoding.UTF8.GetBytes(text), path);
    }

    /// <summary>Writes a value to a single-value control file (tracing_on, enable, current_tracer). O_APPEND is harmless there.</summary>
    public static void WriteValue(string path, string value) => Append(path, value);

    /// <summary>Empties a list-style control file (set_ftrace_filter, trace): only for files the module owns, e.g. in its private instance.</summary>
    public static void Truncate(string path)
    {
        using var fd = Interop.Open(path, Interop.O_WRONLY | Interop.O_TRUNC);
    }
}
