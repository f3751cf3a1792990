using KernelDebug.Native;
using System.Management.Automation;
using KernelDebug.Probes;
using KernelDebug.Symbols;

namespace KernelDebug.Syscall.LibraryCalls;


/// <summary>Finds the library file to probe and the exported functions that match the user's globs.</summary>
public static class LibraryResolver
{
    public const int MaxFunctions = 64;

    private static readonly string[] LibraryDirectories =
    {
        "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
        "/lib64", "/usr/lib64", "/lib", "/usr/lib",
    };

    /// <summary>
    /// A path is taken as is; a name (libc, libm, libc.so.6) is looked up in what the target maps (/proc/&lt;pid&gt;/maps),
    /// else in what this process maps (the same system loader serves a started command), else in the standard directories.
    /// </summary>
    public static string Resolve(string library, int? processId)
    {
        Host.UserInput.EnsureNoSeparators(library, "Library");
        if (library.Contains('/'))
        {
            if (!File.Exists(library))
                throw new KernelDebugException($"The library '{library}' does not exist.", "LibraryNotFound", ErrorCategory.ObjectNotFound) { Target = library };
            return Path.GetFullPath(library);
        }
        var stem = library.EndsWith(".so", StringComparison.Ordinal) || library.Contains(".so.") ? library : library + ".so";
        foreach (var maps in new[] { processId is { } p ? $"/proc/{p}/maps" : null, "/proc/self/maps" })
        {
            if (maps is null) continue;
            string[] lines;
            try { lines = File.ReadAllLines(maps); } catch (IOException) { continue; } catch (UnauthorizedAccessException) { continue; }
            foreach (var line in lines)
            {
                int slash = line.IndexOf('/');
                if (slash < 0) continue;
                var path = line[slash..];
                var name = Path.GetFileName(path);
                if (name == stem || name.StartsWith(stem + ".", StringComparison.Ordinal)) return path;
            }
        }
        foreach (var dir in LibraryDirectories)
        {
            if (!Directory.Exists(dir)) continue;
            var hit = Directory.EnumerateFiles(dir, stem + "*").OrderBy(f => f.Length).FirstOrDefault();
            if (hit is not null) return hit;
        }
        throw new KernelDebugException($"No library named '{library}' is mapped by the target or found in the standard directories; give its path.",
            "LibraryNotFound", ErrorCategory.ObjectNotFound) { Target = library };
    }

    /// <summary>A function other files can call: in .dynsym, or not local in .symtab.</summary>
    public static bool IsExported(ElfSymbol s) => s.Source == ElfSymbolSource.DynSym || s.Binding != "Local";

    /// <summary>
    /// The exported functions matching the globs (.dynsym, or global in .symtab: a file that has both lists each
    /// function once, from .symtab), one per code address (aliases such as __libc_malloc and
    /// malloc share a probe; the name the user asked for exactly wins, else the shortest).
    /// </summary>
    public static IReadOnlyList<ElfSymbol> MatchFunctions(ElfFile elf, IReadOnlyList<string> globs)
    {
        var patterns = globs.Select(g => new WildcardPattern(g, WildcardOptions.None)).ToArray();
        var exact = new HashSet<string>(globs.Where(g => !WildcardPattern.ContainsWildcardCharacters(g)), StringComparer.Ordinal);
        var byOffset = new Dictionary<ulong, ElfSymbol>();
        foreach (var s in elf.Symbols)
        {
            if (!IsExported(s) || !patterns.Any(p => p.IsMatch(s.Name))) continue;
            if (byOffset.TryGetValue(s.FileOffset, out var had) &&
                (exact.Contains(had.Name) || (!exact.Contains(s.Name) && had.Name.Length <= s.Name.Length))) continue;
            byOffset[s.FileOffset] = s;
        }
        foreach (var g in exact)
            if (!byOffset.Values.Any(s => s.Name == g))
                throw new KernelDebugException($"'{elf.Path}' exports no function named '{g}'.", "LibraryFunctionNotFound", ErrorCategory.ObjectNotFound) { Target = g };
        if (byOffset.Count == 0)
            throw new KernelDebugException($"No function exported by '{elf.Path}' matches {string.Join(", ", globs)}.", "LibraryFunctionNotFound", ErrorCategory.ObjectNotFound);
        if (byOffset.Count > MaxFunctions)
            throw new KernelDebugException($"{byOffset.Count} functions of '{elf.Path}' match {string.Join(", ", globs)}; at most {MaxFunctions} are traced at once (each is a uprobe and a uretprobe hit by every process using the library). Narrow -Function.",
                "TooManyLibraryFunctions", ErrorCategory.LimitsExceeded);
        return byOffset.Values.OrderBy(s => s.Name, StringComparer.Ordinal).ToList();
    }
}
