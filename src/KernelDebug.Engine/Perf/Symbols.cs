using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using ELFSharp.ELF;
using ELFSharp.ELF.Sections;

namespace KernelDebug.Perf;

/// <summary>
/// A sorted symbol table with perf's rules: duplicates at one address resolved to the best name, zero-size symbols
/// extended to the next one, lookup by the greatest start at or below the address whose end is above it.
/// </summary>
public sealed class SymbolTable
{
    private readonly ulong[] _starts;
    private readonly ulong[] _ends;
    private readonly string[] _names;

    public static SymbolTable Empty { get; } = new(new List<(ulong, ulong, string, int)>(), kallsyms: false);

    /// <param name="symbols">start, size, name, rank (higher wins a tie at one address: global 2, local 1, weak 0)</param>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal SymbolTable(List<(ulong Start, ulong Size, string Name, int Rank)> symbols, bool kallsyms)
    {
        // As perf: sort (stable, so file order breaks ties), extend zero-size symbols to the next start, then
        // resolve duplicates at one address to the best name.
        var sorted = new Entry[symbols.Count];
        for (int i = 0; i < sorted.Length; i++) sorted[i] = new Entry(symbols[i].Start, symbols[i].Size, symbols[i].Name, symbols[i].Rank, i);
        Entry[]? scratch = null;
        RunMergeSort.Sort(sorted.AsSpan(), ref scratch);
        var starts = new List<ulong>(sorted.Length);
        var ends = new List<ulong>(sorted.Length);
        var names = new List<string>(sorted.Length);
        var ranks = new List<int>(sorted.Length);
        for (int i = 0; i < sorted.Length; i++)
        {
            var k = sorted[i];
            ulong end = k.Start + k.Size;
            if (k.Size == 0)
            {
                if (i + 1 < sorted.Length)
                    end = kallsyms && IsModule(k.Name) != IsModule(sorted[i + 1].Name) ? RoundUp(k.Start + 4096) : sorted[i + 1].Start;
                else end = RoundUp(k.Start) + 4096;
            }
            int last = starts.Count - 1;
            if (last >= 0 && starts[last] == k.Start)
            {
                if (Better((k.Start, end, k.Name, k.Rank), (starts[last], ends[last], names[last], ranks[last])))
                {
                    ends[last] = end; names[last] = k.Name; ranks[last] = k.Rank;
                }
                continue;
            }
            starts.Add(k.Start); ends.Add(end); names.Add(k.Name); ranks.Add(k.Rank);
        }
        _starts = starts.ToArray();
        _ends = ends.ToArray();
        _names = names.ToArray();
    }

    /// <summary>A symbol in the order perf sorts them: by address, then by its place in the input.</summary>
    private readonly record struct Entry(ulong Start, ulong Size, string Name, int Rank, int Index) : IComparable<Entry>
    {
        public int CompareTo(Entry other) => Start != other.Start ? Start.CompareTo(other.Start) : Index.CompareTo(other.Index);
    }

    private static bool IsModule(string name) => name.Contains('[');

    private static ulong RoundUp(ulong v) => (v + 4095) & ~4095UL;

    // perf's choice between two symbols at one address: a sized one, then global over local over weak, then fewer leading underscores, then the longer name.
    private static bool Better((ulong Start, ulong End, string Name, int Rank) a, (ulong Start, ulong End, string Name, int Rank) b)
    {
        ulong aSize = a.End - a.Start, bSize = b.End - b.Start;
        if ((aSize == 0) != (bSize == 0)) return aSize != 0;
        if (a.Rank != b.Rank) return a.Rank > b.Rank;
        int ua = a.Name.TakeWhile(c => c == '_').Count(), ub = b.Name.TakeWhile(c => c == '_').Count();
        if (ua != ub) return ua < ub;
        return a.Name.Length > b.Name.Length;
    }

    public int Count => _names.Length;

    /// <summary>The symbol containing the address, with its start; null when none does.</summary>
    public string? Find(ulong address, out ulong start)
    {
        int lo = 0, hi = _starts.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_starts[mid] <= address) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        if (found >= 0 && address < _ends[found]) { start = _starts[found]; return _names[found]; }
        start = 0;
        return null;
    }
}

/// <summary>
/// Symbols of one ELF file, as perf finds them: .symtab (from the file, or from its detached debug file under
/// /usr/lib/debug found by build id or path), else .dynsym; addresses given as file offsets are turned into virtual
/// addresses through the PT_LOAD segments.
/// </summary>
public sealed class ElfSymbols
{
    private readonly Probes.ElfLoadMap _loads;

    private ElfSymbols(string path, SymbolTable table, Probes.ElfLoadMap loads, string? buildId, string? symbolSource)
    {
        Path = path; Table = table; _loads = loads; BuildId = buildId; SymbolSource = symbolSource;
    }

    public string Path { get; }
    public SymbolTable Table { get; }
    public string? BuildId { get; }
    /// <summary>The file the symbols came from (the debug file when one was found).</summary>
    public string? SymbolSource { get; }

    /// <summary>A file offset (what an mmap's pgoff counts in) as the ELF virtual address the symbols use.</summary>
    public ulong OffsetToAddress(ulong offset) => _loads.ToAddress(offset) ?? offset;

    /// <summary>
    /// Loads an ELF file's symbols; a file that is missing, not a regular file (a FIFO, /dev/tty), not ELF or corrupt
    /// gives an empty table (perf's [unknown]): one bad file never stops a decode.
    /// </summary>
    public static ElfSymbols Load(string path)
    {
        // A file deleted or replaced since the recording: perf record keeps a copy in its build-id cache.
        var source = File.Exists(path) ? path : BuildIdCacheCopy(path) ?? path;
        var elf = Probes.ElfInput.TryLoad(source, out long length);
        if (elf is not null)
        {
            try { return FromElf(path, elf, length); }
            catch (Exception e) when (Probes.ElfInput.IsCorruption(e)) { }
        }
        return new ElfSymbols(path, SymbolTable.Empty, Probes.ElfLoadMap.Empty, null, null);
    }

    /// <summary>No symbols for a file: what a mapping resolves to when no file with its build-id is found.</summary>
    internal static ElfSymbols None(string path) => new(path, SymbolTable.Empty, Probes.ElfLoadMap.Empty, null, null);

    /// <summary>The newest copy perf record saved of a file in ~/.debug/&lt;path&gt;/&lt;build id&gt;/elf, or null.</summary>
    internal static string? BuildIdCacheCopy(string path)
    {
        if (!path.StartsWith('/')) return null;
        try
        {
            var dir = System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".debug") + path;
            if (!Directory.Exists(dir)) return null;
            return Directory.GetDirectories(dir).Select(d => System.IO.Path.Combine(d, "elf")).Where(File.Exists)
                .OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault();
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>
    /// The vDSO's symbols, read from this process's own vDSO (the kernel maps the same image into every process of
    /// one ABI), as perf does when it has no copy of it.
    /// </summary>
    public static ElfSymbols LoadVdso()
    {
        try
        {
            var line = File.ReadLines("/proc/self/maps").FirstOrDefault(l => l.EndsWith("[vdso]", StringComparison.Ordinal));
            if (line is not null)
            {
                var range = line.Split(' ')[0].Split('-');
                long start = long.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture), end = long.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                var image = new byte[end - start];
                using (var mem = new FileStream("/proc/self/mem", FileMode.Open, FileAccess.Read))
                {
                    mem.Seek(start, SeekOrigin.Begin);
                    mem.ReadExactly(image);
                }
                if (ELFReader.TryLoad(new MemoryStream(image), true, out IELF? elf)) return FromElf("[vdso]", elf, image.Length);
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return new ElfSymbols("[vdso]", SymbolTable.Empty, Probes.ElfLoadMap.Empty, null, null);
    }

    private static ElfSymbols FromElf(string path, IELF elf, long length)
    {
        using (elf)
        {
            var loads = Probes.ElfLoadMap.Of(elf, length);
            string? buildId = BuildIdOf(elf);
            var symbols = ReadSymbols(elf, ".symtab");
            string? source = symbols.Count > 0 ? path : null;
            if (symbols.Count == 0)
            {
                foreach (var debugPath in DebugFileCandidates(path, buildId))
                {
                    if (Probes.ElfInput.TryLoad(debugPath, out _) is not { } debug) continue;
                    using (debug)
                    {
                        if (buildId is not null && BuildIdOf(debug) is { } dbgId && dbgId != buildId) continue;
                        symbols = ReadSymbols(debug, ".symtab");
                        if (symbols.Count > 0) { source = debugPath; break; }
                    }
                }
            }
            if (symbols.Count == 0)
            {
                symbols = ReadSymbols(elf, ".dynsym");
                source = symbols.Count > 0 ? path : null;
            }
            symbols.AddRange(PltSymbols(elf));
            return new ElfSymbols(path, new SymbolTable(symbols, kallsyms: false), loads, buildId, source);
        }
    }

    /// <summary>
    /// "name@plt" for each PLT entry, as perf synthesizes them (x86-64): entry i of .rela.plt jumps through .plt.sec
    /// entry i when the binary has one (IBT), else .plt entry i + 1 (entry 0 is the resolver stub).
    /// </summary>
    private static IEnumerable<(ulong, ulong, string, int)> PltSymbols(IELF elf)
    {
        if (elf.Machine != Machine.AMD64) yield break;
        if (!elf.TryGetSection(".rela.plt", out var rela) || rela is not Section<ulong> relaSection) yield break;
        if (!elf.TryGetSection(".dynsym", out var dyn) || dyn is not SymbolTable<ulong> dynsym) yield break;
        bool sec = elf.TryGetSection(".plt.sec", out var plt);
        if (!sec && !elf.TryGetSection(".plt", out plt)) yield break;
        // perf 6.1 leaves PLTs without a 16-byte entry size (lld's) unnamed: so do we, to agree with it.
        if (plt is not Section<ulong> pltSection || pltSection.EntrySize != 16) yield break;
        var names = dynsym.Entries.Select(e => e.Name).ToList();
        var bytes = relaSection.GetContents();
        for (int i = 0; (i + 1) * 24 <= bytes.Length; i++)
        {
            ulong info = BitConverter.ToUInt64(bytes, i * 24 + 8);
            int symIndex = (int)(info >> 32);
            if (symIndex <= 0 || symIndex >= names.Count || string.IsNullOrEmpty(names[symIndex])) continue;
            ulong address = pltSection.LoadAddress + 16UL * (ulong)(sec ? i : i + 1);
            yield return (address, 16, Demangler.Demangle(names[symIndex]) + "@plt", 2);
        }
    }

    private static IEnumerable<string> DebugFileCandidates(string path, string? buildId)
    {
        if (buildId is { Length: > 2 })
            yield return $"/usr/lib/debug/.build-id/{buildId[..2]}/{buildId[2..]}.debug";
        yield return "/usr/lib/debug" + path;
        yield return "/usr/lib/debug" + path + ".debug";
    }

    private static string? BuildIdOf(IELF elf)
    {
        if (elf.TryGetSection(".note.gnu.build-id", out var s) && s is INoteSection note && note.Description is { Length: > 0 } d)
            return Convert.ToHexString(d).ToLowerInvariant();
        return null;
    }

    private static List<(ulong, ulong, string, int)> ReadSymbols(IELF elf, string section)
    {
        var list = new List<(ulong, ulong, string, int)>();
        if (!elf.TryGetSection(section, out var s) || s is not SymbolTable<ulong> table) return list;
        foreach (var e in table.Entries)
        {
            // As perf keeps them: functions, GNU indirect functions (type 10) and labels (no type), with a name,
            // in an executable section (not undefined, absolute or common), at a non-zero address.
            if (e.Type != SymbolType.Function && (int)e.Type != 10 && e.Type != SymbolType.NotSpecified) continue;
            if (e.IsPointedIndexSpecial || e.PointedSectionIndex == 0 || e.Value == 0 || string.IsNullOrEmpty(e.Name)) continue;
            if (e.PointedSection is not { } pointed || (pointed.Flags & SectionFlags.Executable) == 0) continue;
            int rank = e.Binding switch { SymbolBinding.Global => 2, SymbolBinding.Weak => 0, _ => 1 };
            list.Add((e.Value, e.Size, Demangler.Demangle(e.Name), rank));
        }
        return list;
    }
}

/// <summary>The kernel's symbols from /proc/kallsyms (text, weak, data and bss symbols, as perf keeps them).</summary>
public sealed class KernelSymbols
{
    private KernelSymbols(SymbolTable table, List<(ulong Address, string Name)> named)
    {
        Table = table;
        _named = new Lazy<Dictionary<string, ulong>>(() =>
        {
            var d = new Dictionary<string, ulong>(named.Count, StringComparer.Ordinal);
            foreach (var (address, name) in named) d.TryAdd(KernelSymbols.NameOf(name), address); // the first of a name wins
            return d;
        });
    }

    // Built on first use: decoding a perf.data never asks for a name.
    private readonly Lazy<Dictionary<string, ulong>> _named;

    public SymbolTable Table { get; }

    public bool Available => Table.Count > 0;

    public ulong? AddressOf(string name) => _named.Value.TryGetValue(name, out var a) ? a : null;

    /// <summary>The module of a kernel symbol name as stored ("name [module]"), or null for the core kernel.</summary>
    public static string? ModuleOf(string stored)
    {
        int b = stored.IndexOf(" [", StringComparison.Ordinal);
        return b < 0 ? null : stored[(b + 2)..].TrimEnd(']');
    }

    public static string NameOf(string stored)
    {
        int b = stored.IndexOf(" [", StringComparison.Ordinal);
        return b < 0 ? stored : stored[..b];
    }

    private static KernelSymbols? _current;
    private static readonly object Gate = new();

    /// <summary>This boot's kallsyms, read once; empty when addresses are hidden (kptr_restrict) or unreadable.</summary>
    public static KernelSymbols Current
    {
        get { lock (Gate) return _current ??= Load("/proc/kallsyms"); }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static KernelSymbols Load(string path)
    {
        var list = new List<(ulong, ulong, string, int)>();
        var named = new List<(ulong, string)>();
        byte[] text;
        try { text = File.ReadAllBytes(path); }
        catch (IOException) { text = Array.Empty<byte>(); }
        catch (UnauthorizedAccessException) { text = Array.Empty<byte>(); }
        ReadOnlySpan<byte> rest = text;
        while (!rest.IsEmpty)
        {
            int nl = rest.IndexOf((byte)'\n');
            var line = nl < 0 ? rest : rest[..nl];
            rest = nl < 0 ? ReadOnlySpan<byte>.Empty : rest[(nl + 1)..];
            // "ffffffff81000000 T _text" or "ffffffffc0000000 t fn\t[module]"
            if (line.Length < 20 || line[16] != ' ') continue;
            if (!Utf8Parser.TryParse(line[..16], out ulong addr, out int used, 'x') || used != 16 || addr == 0) continue;
            byte raw = line[17];
            byte type = (byte)(raw & ~0x20); // ASCII upper case
            if (type is not ((byte)'T' or (byte)'W' or (byte)'D' or (byte)'B')) continue;
            int rank = type == 'W' ? 0 : raw != type ? 1 : 2;
            var symbol = line[19..];
            int tab = symbol.IndexOf((byte)'\t');
            string name = tab < 0 ? Encoding.UTF8.GetString(symbol)
                : $"{Encoding.UTF8.GetString(symbol[..tab])} {Encoding.UTF8.GetString(symbol[(tab + 1)..]).Trim()}";
            named.Add((addr, name));
            list.Add((addr, 0, name, rank));
        }
        return new KernelSymbols(new SymbolTable(list, kallsyms: true), named);
    }
}

/// <summary>The symbols a JIT publishes in /tmp/perf-PID.map ("start size name" in hex), as perf reads them for anonymous executable memory.</summary>
public static class PerfMapSymbols
{
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

/// <summary>A cache of symbol tables by path, shared by the decoders of one process.</summary>
public static class SymbolCache
{
    private static readonly ConcurrentDictionary<string, Lazy<ElfSymbols>> Files = new(StringComparer.Ordinal);

    /// <summary>A file's symbols, loaded once; reloaded when the file on disk changed since.</summary>
    public static ElfSymbols Get(string path)
    {
        var key = path + "\0" + (File.Exists(path) ? File.GetLastWriteTimeUtc(path).Ticks.ToString(CultureInfo.InvariantCulture) : "-");
        return Files.GetOrAdd(key, k => new Lazy<ElfSymbols>(() => ElfSymbols.Load(path))).Value;
    }

    private static readonly Lazy<ElfSymbols> VdsoSymbols = new(ElfSymbols.LoadVdso);

    public static ElfSymbols Vdso => VdsoSymbols.Value;

    private static readonly ConcurrentDictionary<string, Lazy<SymbolTable>> PerfMaps = new(StringComparer.Ordinal);

    /// <summary>A JIT's perf map file, read once per modification time; empty when absent.</summary>
    public static SymbolTable GetPerfMap(string path)
    {
        if (!File.Exists(path)) return SymbolTable.Empty;
        var key = path + "\0" + File.GetLastWriteTimeUtc(path).Ticks.ToString(CultureInfo.InvariantCulture);
        return PerfMaps.GetOrAdd(key, k => new Lazy<SymbolTable>(() => PerfMapSymbols.Load(path))).Value;
    }
}
