using System.IO.Compression;

namespace KernelDebug.Bpf;

/// <summary>The running kernel's build configuration (CONFIG_X=value lines), for __kconfig externs.</summary>
internal static class KernelConfig
{
    private static readonly Lazy<Dictionary<string, string>?> Cached = new(Read);

    /// <summary>Option → value as the config file writes it (y, m, a number, a quoted string); null when unreadable.</summary>
    public static Dictionary<string, string>? Load() => Cached.Value;

    public static string Release()
    {
        try { return File.ReadAllText("/proc/sys/kernel/osrelease").Trim(); }
        catch (IOException) { return ""; }
        catch (UnauthorizedAccessException) { return ""; }
    }

    private static Dictionary<string, string>? Read()
    {
        // As libbpf looks: /boot/config-<release> first, then the kernel's own copy.
        var boot = "/boot/config-" + Release();
        try
        {
            if (File.Exists(boot)) return Parse(new StreamReader(boot));
            if (File.Exists("/proc/config.gz")) return Parse(new StreamReader(new GZipStream(File.OpenRead("/proc/config.gz"), CompressionMode.Decompress)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException) { }
        return null;
    }

    internal static Dictionary<string, string> Parse(TextReader reader)
    {
        using (reader)
        {
            var d = new Dictionary<string, string>(StringComparer.Ordinal);
            while (reader.ReadLine() is { } line)
            {
                if (!line.StartsWith("CONFIG_", StringComparison.Ordinal)) continue; // "# CONFIG_X is not set" is absent: n
                int eq = line.IndexOf('=', StringComparison.Ordinal);
                if (eq > 0) d[line[..eq]] = line[(eq + 1)..];
            }
            return d;
        }
    }
}
