using System.IO.Compression;

namespace KernelDebug.Host;

/// <summary>The running kernel's build configuration, from /proc/config.gz or /boot/config-$(uname -r), when present.</summary>
public sealed class KernelConfig
{
    private readonly Dictionary<string, string> _values;

    private KernelConfig(string source, Dictionary<string, string> values)
    {
        Source = source;
        _values = values;
    }

    public string Source { get; }

    /// <summary>"y", "m", a value, or "n" for "# CONFIG_X is not set"; null when the option is not mentioned.</summary>
    public string? this[string option] => _values.TryGetValue(Normalize(option), out var v) ? v : null;

    public bool IsEnabled(string option) => this[option] is "y" or "m";

    private static KernelConfig? _cached;

    public static KernelConfig? Load()
    {
        if (_cached is not null) return _cached;
        try
        {
            if (File.Exists("/proc/config.gz"))
            {
                using var gz = new GZipStream(File.OpenRead("/proc/config.gz"), CompressionMode.Decompress);
                using var reader = new StreamReader(gz);
                return _cached = Parse("/proc/config.gz", reader.ReadToEnd());
            }
            var boot = $"/boot/config-{Environment.OSVersion.Version}";
            var release = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : null;
            if (release is not null) boot = $"/boot/config-{release}";
            if (File.Exists(boot)) return _cached = Parse(boot, File.ReadAllText(boot));
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }

    public static KernelConfig Parse(string source, string text)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith("# CONFIG_", StringComparison.Ordinal) && line.EndsWith(" is not set", StringComparison.Ordinal))
                d[line[2..^" is not set".Length]] = "n";
            else if (line.StartsWith("CONFIG_", StringComparison.Ordinal) && line.IndexOf('=') is var eq and > 0)
                d[line[..eq]] = line[(eq + 1)..].Trim('"');
        }
        return new KernelConfig(source, d);
    }

    private static string Normalize(string option) => option.StartsWith("CONFIG_", StringComparison.Ordinal) ? option : "CONFIG_" + option;

    /// <summary>A sentence about an option, for capability details: "the kernel was built without CONFIG_KPROBES".</summary>
    public static string Explain(string option)
    {
        var cfg = Load();
        var name = Normalize(option);
        if (cfg is null) return $"the kernel configuration is not readable (no /proc/config.gz or /boot/config-*), so {name} cannot be checked";
        return cfg[name] switch
        {
            "y" or "m" => $"{name}={cfg[name]} in {cfg.Source}",
            "n" => $"the kernel was built without {name} ({cfg.Source})",
            null => $"{name} is not in {cfg.Source} (its prerequisites are off)",
            var v => $"{name}={v} in {cfg.Source}",
        };
    }
}
