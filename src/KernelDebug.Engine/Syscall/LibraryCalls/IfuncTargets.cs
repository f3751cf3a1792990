using System.Globalization;
using System.Runtime.InteropServices;
using KernelDebug.Probes;
using KernelDebug.Symbols;

namespace KernelDebug.Syscall.LibraryCalls;


/// <summary>
/// GNU indirect functions (STT_GNU_IFUNC: glibc's strlen, memcpy, strcmp...): the symbol is a resolver the dynamic
/// linker calls once to pick an implementation for this CPU, so a probe on it sees one call, not the calls. When this
/// process maps the same library file (libc always), the implementation is found by resolving the symbol here
/// (dlsym runs the resolver; the library is already loaded, so nothing new is initialised) and the probes go on it.
/// The target runs on the same CPUs with the same library, so its resolver picks the same one.
/// </summary>
public static class IfuncTargets
{
    /// <summary>
    /// The functions with each IFUNC replaced by its implementation (same name); <paramref name="warn"/> hears of those
    /// that could not be resolved (their probes then see only the resolver) and of two names sharing an implementation.
    /// </summary>
    public static IReadOnlyList<ElfSymbol> Resolve(ElfFile elf, IReadOnlyList<ElfSymbol> functions, Action<string> warn)
    {
        var ifuncs = elf.Symbols.Where(s => s.IsIndirect).Select(s => s.Address).ToHashSet();
        if (!functions.Any(f => ifuncs.Contains(f.Address))) return functions;
        var mapping = SelfMapping(elf.Path);
        var result = new List<ElfSymbol>();
        var byOffset = functions.Where(f => !ifuncs.Contains(f.Address)).ToDictionary(f => f.FileOffset, f => f.Name);
        foreach (var f in functions)
        {
            if (!ifuncs.Contains(f.Address)) { result.Add(f); continue; }
            ulong? offset = mapping is null ? null : ImplementationOffset(elf.Path, f.Name, mapping);
            if (offset is not { } o || elf.FileOffsetToVirtualAddress(o) is not { } address)
            {
                warn($"{f.Name} is an indirect function (IFUNC) whose implementation could not be found here (this process does not map {elf.Path}): its probes see the resolver, called once at load, not the calls.");
                result.Add(f);
                continue;
            }
            if (byOffset.TryGetValue(o, out var other))
            {
                warn($"{f.Name} resolves to the same code as {other}; its calls are counted as {other}'s.");
                continue;
            }
            byOffset[o] = f.Name;
            result.Add(f with { Address = address, FileOffset = o, Size = elf.SymbolAt(o)?.Size ?? 0 });
        }
        return result;
    }

    /// <summary>This process's mappings of that file: (start, end, file offset), or null when it maps it not.</summary>
    private static List<(ulong Start, ulong End, ulong Offset)>? SelfMapping(string path)
    {
        var real = RealPath(path);
        var list = new List<(ulong, ulong, ulong)>();
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            int slash = line.IndexOf('/');
            if (slash < 0 || RealPath(line[slash..]) != real) continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var range = parts[0].Split('-');
            list.Add((ulong.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                      ulong.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                      ulong.Parse(parts[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
        }
        return list.Count > 0 ? list : null;
    }

    private static ulong? ImplementationOffset(string path, string name, List<(ulong Start, ulong End, ulong Offset)> mapping)
    {
        // dlopen of a library already loaded returns its handle without running anything.
        if (!NativeLibrary.TryLoad(path, out var handle)) return null;
        try
        {
            if (!NativeLibrary.TryGetExport(handle, name, out var address)) return null;
            ulong a = (ulong)address;
            foreach (var (start, end, offset) in mapping)
                if (a >= start && a < end) return a - start + offset;
            return null;
        }
        finally { NativeLibrary.Free(handle); }
    }

    /// <summary>The path with every symbolic link resolved (/lib/x86_64-linux-gnu/libc.so.6 is /usr/lib/..., as maps shows it).</summary>
    internal static string RealPath(string path)
    {
        var full = Path.GetFullPath(path);
        for (int hops = 0; hops < 40; hops++)
        {
            var parts = full.Split('/', StringSplitOptions.RemoveEmptyEntries);
            string current = "/";
            bool resolved = false;
            for (int i = 0; i < parts.Length && !resolved; i++)
            {
                var next = Path.Combine(current, parts[i]);
                string? target;
                try { target = new FileInfo(next).LinkTarget; }
                catch (IOException) { return full; }
                if (target is null) { current = next; continue; }
                full = Path.GetFullPath(Path.Combine(current, target, string.Join('/', parts.Skip(i + 1))));
                resolved = true;
            }
            if (!resolved) return full;
        }
        return full;
    }
}
