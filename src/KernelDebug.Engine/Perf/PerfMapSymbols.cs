using System.Collections.Concurrent;
using System.Globalization;
using KernelDebug.Symbols;

namespace KernelDebug.Perf;

/// <summary>The symbols a JIT publishes in /tmp/perf-PID.map ("start size name" in hex), as perf reads them for anonymous executable memory.</summary>
public static class PerfMapSymbols
{
    private static readonly ConcurrentDictionary<string, Lazy<SymbolTable>> Cache = new(StringComparer.Ordinal);

    /// <summary>A JIT's perf map file, read once per modification time; empty when absent.</summary>
    public static SymbolTable Get(string path)
    {
        if (!File.Exists(path)) return SymbolTable.Empty;
        var key = path + "\0" + File.GetLastWriteTimeUtc(path).Ticks.ToString(CultureInfo.InvariantCulture);
        return Cache.GetOrAdd(key, k => new Lazy<SymbolTable>(() => Load(path))).Value;
    }

    public static SymbolTable Load(string path)
    {
        var list = new List<(ulong, ulong, string, int)>();
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                var parts = line.Split(' ', 3);
                if (parts.Length == 3 && ulong.TryParse(parts[0].AsSpan(parts[0].StartsWith("0x", StringComparison.Ordinal) ? 2 : 0), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var start)
                    && ulong.TryParse(parts[1].AsSpan(parts[1].StartsWith("0x", StringComparison.Ordinal) ? 2 : 0), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var size))
                    list.Add((start, size, Demangler.Demangle(parts[2].Trim()), 2));
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return new SymbolTable(list, kallsyms: false);
    }
}
