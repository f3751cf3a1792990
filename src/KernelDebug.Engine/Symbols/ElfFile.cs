using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Management.Automation;
using ELFSharp.ELF;
using ELFSharp.ELF.Sections;
using KernelDebug.Host;
using KernelDebug.Native;
using KernelDebug.Perf;

namespace KernelDebug.Symbols;

/// <summary>
/// One ELF file as the module uses it, read once: its function symbols (.symtab and .dynsym, with GNU symbol versions
/// and IFUNC flags), its load map (PT_LOAD: file offset ↔ link-time address), its build-id (NT_GNU_BUILD_ID) and its
/// debug link (.gnu_debuglink name and CRC). It serves name → file offset (uprobes, library calls, BPF uprobes, as perf
/// probe -x computes it) and address → symbol (perf's symbolization rules, with the detached debug file found by
/// build-id or debug link).
/// </summary>
/// <remarks>
/// Cache rule: one instance per path and file version (device, inode, size, mtime), for the life of the process. A
/// file modified within the last <see cref="RacyWindow"/> is read but not cached (git's racy-clean rule: a rewrite in
/// the same timestamp tick would not change the key).
/// </remarks>
public sealed class ElfFile
{
    /// <summary>Files modified this recently are not cached: their mtime may not yet tell versions apart.</summary>
    public static readonly TimeSpan RacyWindow = TimeSpan.FromSeconds(2);

    private static readonly ConcurrentDictionary<(string Path, ulong Device, ulong Inode, long Size, long Modified), ElfFile> Cache = new();

    private readonly Dictionary<string, List<ElfSymbol>> _byName = new(StringComparer.Ordinal);
    private readonly List<ElfSymbol> _symbols = new();
    private readonly List<RawSymbol> _symtab = new(), _dynsym = new();
    private readonly List<(ulong, ulong, string, int)> _plt = new();
    private readonly Lazy<(SymbolTable Table, string? Source)> _table;
    private readonly Lazy<uint?> _crc;

    /// <summary>A symbol table entry as read, before either view's filter.</summary>
    private readonly record struct RawSymbol(string Name, ulong Value, ulong Size, int Type, SymbolBinding Binding, bool InSection, bool Executable, string? Version, bool Hidden);

    private ElfFile(string path)
    {
        Path = path;
        LoadMap = ElfLoadMap.Empty;
        _table = new((SymbolTable.Empty, null));
        _crc = new((uint?)null);
    }

    private ElfFile(string path, IELF elf, long length)
    {
        Path = path;
        Length = length;
        LoadMap = ElfLoadMap.Of(elf, length);
        Machine = elf.Machine.ToString();
        IsAmd64 = elf is ELF<ulong> && elf.Machine == ELFSharp.ELF.Machine.AMD64;
        bool interp = ElfLoadMap.HasInterpreter(elf);
        if (elf is ELF<ulong> e64) Read(e64, interp);
        else if (elf is ELF<uint> e32) Read(e32, interp);
        HasSymTab = _symbols.Any(s => s.Source == ElfSymbolSource.SymTab);
        BuildId = elf.TryGetSection(".note.gnu.build-id", out var s) && s is INoteSection note && note.Description is { Length: > 0 } d
            ? Convert.ToHexString(d).ToLowerInvariant() : null;
        if (elf.TryGetSection(".gnu_debuglink", out var link)) (DebugLink, DebugLinkCrc) = ReadDebugLink(link.GetContents(), elf.Endianess == ELFSharp.Endianess.BigEndian);
        _table = new(BuildTable);
        _crc = new(() => FileCrc32(Path));
    }

    private void Read<T>(ELF<T> elf, bool interp) where T : struct
    {
        Kind = elf.Type switch
        {
            FileType.Executable => ElfFileKind.Executable,
            FileType.SharedObject => IsPie(elf, interp) ? ElfFileKind.PositionIndependentExecutable : ElfFileKind.SharedObject,
            FileType.Relocatable => ElfFileKind.Relocatable,
            _ => ElfFileKind.Other,
        };
        ReadTable(elf, ".symtab", ElfSymbolSource.SymTab, _symtab);
        ReadTable(elf, ".dynsym", ElfSymbolSource.DynSym, _dynsym);
        if (elf is ELF<ulong> e64) ReadPlt(e64);
    }

    /// <summary>The file's path (full) as it was opened; a debug file's symbols are still this file's.</summary>
    public string Path { get; }
    /// <summary>The file's size when it was read: every file offset given out lies below it.</summary>
    public long Length { get; }
    public ElfFileKind Kind { get; private set; } = ElfFileKind.Other;
    public string Machine { get; } = string.Empty;
    private bool IsAmd64 { get; }
    /// <summary>False for a stripped file: only the dynamic symbols (exported functions) can be found.</summary>
    public bool HasSymTab { get; }
    /// <summary>The GNU build-id (hex), or null.</summary>
    public string? BuildId { get; }
    /// <summary>The .gnu_debuglink file name of the detached debug file, or null.</summary>
    public string? DebugLink { get; }
    /// <summary>The CRC-32 the debug link names for that file's contents.</summary>
    public uint DebugLinkCrc { get; }
    /// <summary>The PT_LOAD segments: file offset ↔ link-time virtual address.</summary>
    public ElfLoadMap LoadMap { get; }

    /// <summary>Every defined function symbol, .symtab first, then .dynsym entries not already found there.</summary>
    public IReadOnlyList<ElfSymbol> Symbols => _symbols;

    /// <summary>perf's address → symbol table of this file (see <see cref="SymbolSource"/> for where it came from).</summary>
    public SymbolTable Table => _table.Value.Table;

    /// <summary>The file the address table's symbols came from (the debug file when one was found), or null when none.</summary>
    public string? SymbolSource => _table.Value.Source;

    // ---------- opening and the cache ----------

    /// <summary>Opens an ELF file (cached); throws KernelDebugException (ElfFileNotFound, NotAnElfFile, CorruptElf, ElfFileNotARegularFile…).</summary>
    public static ElfFile Open(string path)
    {
        if (Directory.Exists(path))
            throw new KernelDebugException($"'{path}' is a directory, not an ELF file.", "NotAnElfFile", ErrorCategory.InvalidArgument) { Target = path };
        if (!File.Exists(path))
            throw new KernelDebugException($"The file '{path}' does not exist.", "ElfFileNotFound", ErrorCategory.ObjectNotFound) { Target = path };
        var (handle, length) = RegularFile.OpenRead(path, "ElfFile", "ELF file");
        return Load(System.IO.Path.GetFullPath(path), handle, length, throwing: true)!;
    }

    /// <summary>The file (cached), or null when it is missing, unreadable, not a regular file, not ELF or corrupt: one bad file never stops a decode.</summary>
    public static ElfFile? TryOpen(string path)
    {
        var handle = RegularFile.TryOpenRead(path, out long length);
        return handle is null ? null : Load(System.IO.Path.GetFullPath(path), handle, length, throwing: false);
    }

    /// <summary>No symbols for a path: what a mapping resolves to when no file (with its build-id) is found.</summary>
    public static ElfFile None(string path) => new(path);

    private static ElfFile? Load(string path, Microsoft.Win32.SafeHandles.SafeFileHandle handle, long length, bool throwing)
    {
        var version = Interop.FStatVersion(handle);
        var key = version is { } v ? (path, v.Device, v.Inode, v.Size, v.ModifiedNs) : default;
        if (version is not null && Cache.TryGetValue(key, out var cached)) { handle.Dispose(); return cached; }
        var stream = new FileStream(handle, FileAccess.Read, 1);
        IELF? elf = null;
        try
        {
            if (!ELFReader.TryLoad(stream, shouldOwnStream: true, out elf))
            {
                if (throwing) throw new KernelDebugException($"'{path}' is not an ELF file.", "NotAnElfFile", ErrorCategory.InvalidData) { Target = path };
                return null;
            }
            var file = new ElfFile(path, elf, length);
            long racy = (DateTime.UtcNow - RacyWindow - DateTime.UnixEpoch).Ticks * 100;
            if (version is { } w && w.ModifiedNs < racy) Cache.TryAdd(key, file);
            return file;
        }
        catch (Exception e) when (IsCorruption(e))
        {
            if (throwing) throw new KernelDebugException($"'{path}' is a corrupt ELF file: {e.Message}", "CorruptElf", ErrorCategory.InvalidData, e) { Target = path };
            return null;
        }
        finally
        {
            if (elf is not null) elf.Dispose();
            else stream.Dispose();
        }
    }

    /// <summary>An ELF image in memory (the vDSO), or null when it is not ELF or corrupt.</summary>
    public static ElfFile? FromImage(byte[] image, string name)
    {
        try
        {
            if (!ELFReader.TryLoad(new MemoryStream(image), true, out IELF? elf)) return null;
            using (elf) return new ElfFile(name, elf, image.Length);
        }
        catch (Exception e) when (IsCorruption(e)) { return null; }
    }

    private static readonly Lazy<ElfFile> VdsoImage = new(ReadVdso);

    /// <summary>
    /// The vDSO, read from this process's own (the kernel maps the same image into every process of one ABI), as perf
    /// does when it has no copy of it.
    /// </summary>
    public static ElfFile Vdso => VdsoImage.Value;

    private static ElfFile ReadVdso()
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
                if (FromImage(image, "[vdso]") is { } vdso) return vdso;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return None("[vdso]");
    }

    /// <summary>
    /// The parsed file itself, for readers of sections the symbol layer does not keep (CFI, line tables), opened the one
    /// way (regular files only); null when missing, unreadable, not a regular file or not ELF. The caller disposes it.
    /// </summary>
    public static IELF? TryLoadRaw(string path, out long length)
    {
        var handle = RegularFile.TryOpenRead(path, out length);
        if (handle is null) return null;
        var stream = new FileStream(handle, FileAccess.Read, 1);
        try
        {
            if (ELFReader.TryLoad(stream, shouldOwnStream: true, out IELF? elf)) return elf;
        }
        catch (Exception e) when (IsCorruption(e)) { }
        stream.Dispose();
        return null;
    }

    /// <summary>What a corrupt ELF file makes the reader (ELFSharp) or our own table reading throw.</summary>
    public static bool IsCorruption(Exception e) => e is IndexOutOfRangeException or ArgumentException or OverflowException
        or EndOfStreamException or IOException or InvalidOperationException or NullReferenceException or KeyNotFoundException
        or InvalidCastException or NotSupportedException or FormatException or DivideByZeroException or OutOfMemoryException
        or System.Text.DecoderFallbackException;

    // ---------- reading ----------

    /// <summary>
    /// A PIE is an ET_DYN with DF_1_PIE in DT_FLAGS_1; without that flag, one with an interpreter and no DT_SONAME
    /// (glibc's libc.so.6 has an interpreter too, but it is a library).
    /// </summary>
    private static bool IsPie<T>(ELF<T> elf, bool hasInterpreter) where T : struct
    {
        const ulong DT_SONAME = 14, DT_FLAGS_1 = 0x6ffffffb, DF_1_PIE = 0x08000000;
        if (!elf.TryGetSection(".dynamic", out var s) || s is not DynamicSection<T> dyn) return hasInterpreter;
        bool soname = false;
        foreach (var e in dyn.Entries)
        {
            ulong tag = Convert.ToUInt64(e.Tag, CultureInfo.InvariantCulture), value = Convert.ToUInt64(e.Value, CultureInfo.InvariantCulture);
            if (tag == DT_FLAGS_1 && (value & DF_1_PIE) != 0) return true;
            if (tag == DT_SONAME) soname = true;
        }
        return hasInterpreter && !soname;
    }

    private void ReadTable<T>(ELF<T> elf, string section, ElfSymbolSource source, List<RawSymbol> raw) where T : struct
    {
        if (!elf.TryGetSection(section, out var s) || s is not SymbolTable<T> table) return;
        var versions = source == ElfSymbolSource.DynSym ? DynamicSymbolVersions(elf) : null;
        int index = -1;
        foreach (var entry in table.Entries)
        {
            index++;
            var (version, hidden) = versions is not null && index < versions.Length ? versions[index] : (null, false);
            bool inSection = !entry.IsPointedIndexSpecial && entry.PointedSectionIndex != 0;
            bool executable = inSection && entry.PointedSection is { } pointed && (pointed.Flags & SectionFlags.Executable) != 0;
            var r = new RawSymbol(entry.Name ?? string.Empty, Convert.ToUInt64(entry.Value, CultureInfo.InvariantCulture), Convert.ToUInt64(entry.Size, CultureInfo.InvariantCulture),
                (int)entry.Type, entry.Binding, inSection, executable, version, hidden);
            raw.Add(r);
            AddFunction(r, source);
        }
    }

    /// <summary>The uprobe view: functions and IFUNCs in a section, at a non-zero address that lies in a PT_LOAD segment.</summary>
    private void AddFunction(RawSymbol r, ElfSymbolSource source)
    {
        bool indirect = r.Type == 10; // STT_GNU_IFUNC
        if (!(r.Type == (int)SymbolType.Function || indirect) || !r.InSection || string.IsNullOrEmpty(r.Name) || r.Value == 0) return;
        // One address may carry a name in several versions (__isnanf128@GLIBC_2.26 and @@GLIBC_2.34): one symbol each.
        if (_byName.TryGetValue(r.Name, out var list)
            && list.FindIndex(x => x.Address == r.Value && (x.Version is null || x.Version == r.Version)) is var at && at >= 0)
        {
            // Found in .symtab already: it keeps its place and takes the version .dynsym knows.
            if (r.Version is not null && list[at].Version is null)
            {
                var with = list[at] with { Version = r.Version, IsHiddenVersion = r.Hidden };
                _symbols[_symbols.IndexOf(list[at])] = with;
                list[at] = with;
            }
            return;
        }
        if (LoadMap.ToFileOffset(r.Value) is not { } offset) return;
        var sym = new ElfSymbol(r.Name, r.Value, r.Size, offset, r.Binding.ToString(), source, Path)
        {
            IsIndirect = indirect, Version = r.Version, IsHiddenVersion = r.Hidden,
        };
        _symbols.Add(sym);
        if (list is null) _byName[r.Name] = list = new List<ElfSymbol>();
        list.Add(sym);
    }

    /// <summary>
    /// The version of each .dynsym entry, by index, from .gnu.version (one half-word per symbol; bit 15: hidden, i.e.
    /// name@VER rather than the default name@@VER) and .gnu.version_d (the version names); null without them.
    /// </summary>
    private static (string? Name, bool Hidden)[]? DynamicSymbolVersions<T>(ELF<T> elf) where T : struct
    {
        if (!elf.TryGetSection(".gnu.version", out var versym) || !elf.TryGetSection(".gnu.version_d", out var verdef)
            || !elf.TryGetSection(".dynstr", out var ds) || ds is not StringTable<T> dynstr) return null;
        bool big = elf.Endianess == ELFSharp.Endianess.BigEndian;
        ushort U16(byte[] b, int o) => big ? BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(o)) : BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(o));
        uint U32(byte[] b, int o) => big ? BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(o)) : BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(o));
        // Elf_Verdef: vd_version, vd_flags, vd_ndx (u16), vd_cnt (u16), vd_hash, vd_aux, vd_next (u32); Elf_Verdaux: vda_name, vda_next.
        var names = new Dictionary<int, string>();
        var d = verdef.GetContents();
        for (long off = 0, n = 0; off + 20 <= d.Length && n < 65536; n++)
        {
            int ndx = U16(d, (int)off + 4);
            long aux = off + U32(d, (int)off + 12);
            if (aux + 8 <= d.Length) names[ndx] = dynstr[U32(d, (int)aux)];
            uint next = U32(d, (int)off + 16);
            if (next == 0) break;
            off += next;
        }
        var v = versym.GetContents();
        var result = new (string?, bool)[v.Length / 2];
        for (int i = 0; i < result.Length; i++)
        {
            ushort x = U16(v, 2 * i);
            // 0 local, 1 global unversioned; 2 and up name a definition (index 1 is the file's own base version).
            result[i] = ((x & 0x7fff) >= 2 && names.TryGetValue(x & 0x7fff, out var name) ? name : null, (x & 0x8000) != 0);
        }
        return result;
    }

    /// <summary>
    /// "name@plt" for each PLT entry, as perf synthesizes them (x86-64): entry i of .rela.plt jumps through .plt.sec
    /// entry i when the binary has one (IBT), else .plt entry i + 1 (entry 0 is the resolver stub).
    /// </summary>
    private void ReadPlt(ELF<ulong> elf)
    {
        if (elf.Machine != ELFSharp.ELF.Machine.AMD64) return;
        if (!elf.TryGetSection(".rela.plt", out var rela) || rela is not Section<ulong> relaSection) return;
        if (!elf.TryGetSection(".dynsym", out var dyn) || dyn is not SymbolTable<ulong> dynsym) return;
        bool sec = elf.TryGetSection(".plt.sec", out var plt);
        if (!sec && !elf.TryGetSection(".plt", out plt)) return;
        // perf 6.1 leaves PLTs without a 16-byte entry size (lld's) unnamed: so do we, to agree with it.
        if (plt is not Section<ulong> pltSection || pltSection.EntrySize != 16) return;
        var names = dynsym.Entries.Select(e => e.Name).ToList();
        var bytes = relaSection.GetContents();
        for (int i = 0; (i + 1) * 24 <= bytes.Length; i++)
        {
            ulong info = BitConverter.ToUInt64(bytes, i * 24 + 8);
            int symIndex = (int)(info >> 32);
            if (symIndex < 0 || symIndex >= names.Count) continue;
            // An IRELATIVE slot (symbol 0: libc's calls of its own IFUNCs) is "@plt" in perf 6.1, a name of nothing.
            ulong address = pltSection.LoadAddress + 16UL * (ulong)(sec ? i : i + 1);
            _plt.Add((address, 16, names[symIndex] ?? "", 2));
        }
    }

    /// <summary>.gnu_debuglink: the file name (NUL-terminated, padded to 4 bytes), then its CRC-32.</summary>
    private static (string?, uint) ReadDebugLink(byte[] contents, bool bigEndian)
    {
        int nul = Array.IndexOf(contents, (byte)0);
        if (nul <= 0) return (null, 0);
        int crcAt = (nul + 4) & ~3;
        if (crcAt + 4 > contents.Length) return (null, 0);
        uint crc = bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(contents.AsSpan(crcAt)) : BinaryPrimitives.ReadUInt32LittleEndian(contents.AsSpan(crcAt));
        return (System.Text.Encoding.UTF8.GetString(contents, 0, nul), crc);
    }

    // ---------- address → symbol (perf) ----------

    /// <summary>
    /// perf's table: .symtab (from the file, or from its detached debug file found by build-id, debug link or path),
    /// else .dynsym; kept as perf keeps them (functions, IFUNCs, labels in executable sections), plus PLT entries.
    /// </summary>
    private (SymbolTable, string?) BuildTable()
    {
        var symbols = PerfSymbols(_symtab);
        string? source = symbols.Count > 0 ? Path : null;
        if (symbols.Count == 0)
        {
            foreach (var (candidate, checkCrc) in DebugFileCandidates())
            {
                if (candidate == Path || TryOpen(candidate) is not { } debug) continue;
                if (BuildId is not null && debug.BuildId is { } dbgId && dbgId != BuildId) continue;
                if (checkCrc && debug._crc.Value != DebugLinkCrc) continue;
                symbols = PerfSymbols(debug._symtab);
                if (symbols.Count > 0) { source = debug.Path; break; }
            }
        }
        if (symbols.Count == 0)
        {
            symbols = PerfSymbols(_dynsym);
            source = symbols.Count > 0 ? Path : null;
        }
        symbols.AddRange(_plt.Select(p => (p.Item1, p.Item2, Demangler.Demangle(p.Item3) + "@plt", p.Item4)));
        return (new SymbolTable(symbols, kallsyms: false), source);
    }

    private static List<(ulong, ulong, string, int)> PerfSymbols(List<RawSymbol> raw)
    {
        var list = new List<(ulong, ulong, string, int)>();
        foreach (var e in raw)
        {
            // As perf keeps them: functions, GNU indirect functions (type 10) and labels (no type), with a name,
            // in an executable section (not undefined, absolute or common), at a non-zero address.
            if (e.Type != (int)SymbolType.Function && e.Type != 10 && e.Type != (int)SymbolType.NotSpecified) continue;
            if (!e.InSection || e.Value == 0 || string.IsNullOrEmpty(e.Name) || !e.Executable) continue;
            int rank = e.Binding switch { SymbolBinding.Global => 2, SymbolBinding.Weak => 0, _ => 1 };
            list.Add((e.Value, e.Size, Demangler.Demangle(e.Name), rank));
        }
        return list;
    }

    /// <summary>
    /// Where the detached debug file may be, as gdb and perf look: /usr/lib/debug/.build-id/xx/yyyy.debug; for the
    /// debug link (CRC checked), /usr/lib/debug/&lt;dir&gt;/&lt;link&gt;, &lt;dir&gt;/.debug/&lt;link&gt; and
    /// &lt;dir&gt;/&lt;link&gt;; then /usr/lib/debug/&lt;path&gt; and &lt;path&gt;.debug there.
    /// </summary>
    public IEnumerable<(string Path, bool CheckCrc)> DebugFileCandidates()
    {
        if (BuildId is { Length: > 2 })
            yield return ($"/usr/lib/debug/.build-id/{BuildId[..2]}/{BuildId[2..]}.debug", false);
        if (DebugLink is { Length: > 0 } link && !link.Contains('/', StringComparison.Ordinal) && System.IO.Path.GetDirectoryName(Path) is { Length: > 0 } dir)
        {
            yield return (System.IO.Path.Join("/usr/lib/debug", dir, link), true);
            yield return (System.IO.Path.Join(dir, ".debug", link), true);
            yield return (System.IO.Path.Join(dir, link), true);
        }
        yield return ("/usr/lib/debug" + Path, false);
        yield return ("/usr/lib/debug" + Path + ".debug", false);
    }

    /// <summary>The value of the first .symtab (else .dynsym) symbol of that name, any type (vmlinux's _text); null when none.</summary>
    public ulong? SymbolValue(string name)
    {
        foreach (var r in _symtab.Concat(_dynsym))
            if (r.InSection && r.Name == name) return r.Value;
        return null;
    }

    /// <summary>A file offset (what an mmap's pgoff counts in) as the link-time address the symbols use; the offset itself outside every segment.</summary>
    public ulong OffsetToAddress(ulong offset) => LoadMap.ToAddress(offset) ?? offset;

    // ---------- name → file offset (uprobes) ----------

    /// <summary>The file offset of a link-time virtual address (through the PT_LOAD segments).</summary>
    public ulong? VirtualAddressToFileOffset(ulong address) => LoadMap.ToFileOffset(address);

    /// <summary>True when the file offset is in an executable PT_LOAD segment: elsewhere a uprobe is never hit.</summary>
    public bool IsExecutableOffset(ulong offset) => LoadMap.IsExecutable(offset);

    /// <summary>The link-time virtual address of a file offset (inverse of VirtualAddressToFileOffset).</summary>
    public ulong? FileOffsetToVirtualAddress(ulong offset) => LoadMap.ToAddress(offset);

    /// <summary>
    /// All function symbols of that name (several when local symbols of different files share it, or versions do).
    /// name@VERSION and name@@VERSION pick that version, as nm -D and perf print them.
    /// </summary>
    public IReadOnlyList<ElfSymbol> Find(string name)
    {
        if (_byName.TryGetValue(name, out var list)) return list;
        int at = name.IndexOf('@', StringComparison.Ordinal);
        if (at <= 0 || !_byName.TryGetValue(name[..at], out list)) return Array.Empty<ElfSymbol>();
        var version = name[at..].TrimStart('@');
        var exact = list.Where(s => s.Version == version).ToList();
        // Without version sections the version cannot be told: the version-less name stands for it.
        return exact.Count > 0 ? exact : list.Any(s => s.Version is not null) ? Array.Empty<ElfSymbol>() : list;
    }

    /// <summary>
    /// The one function symbol of that name; throws SymbolNotFound or AmbiguousSymbol. Among several, a global one
    /// wins over locals, and the default version (name@@VER) over hidden old ones (name@VER), as perf probe -x picks.
    /// </summary>
    public ElfSymbol Resolve(string name)
    {
        var found = Find(name);
        if (found.Count == 0)
        {
            var hint = HasSymTab ? string.Empty : " The file is stripped (no .symtab), so only exported (.dynsym) functions can be found.";
            throw new KernelDebugException($"No function '{name}' in {Path}.{hint}", "SymbolNotFound", ErrorCategory.ObjectNotFound) { Target = name };
        }
        if (found.Count == 1) return found[0];
        var globals = found.Where(f => f.Binding != "Local").ToList();
        if (globals.Count == 1) return globals[0];
        var defaults = globals.Where(f => !f.IsHiddenVersion).ToList();
        if (defaults.Count == 1) return defaults[0];
        throw new KernelDebugException(
            $"'{name}' names {found.Count} functions in {Path} (at {string.Join(", ", found.Select(f => $"0x{f.Address:x}{(f.Version is null ? "" : (f.IsHiddenVersion ? "@" : "@@") + f.Version)}"))}); give name@VERSION or -Address with the file offset of the one you mean.",
            "AmbiguousSymbol", ErrorCategory.InvalidArgument) { Target = name };
    }

    /// <summary>The file offset of symbol+offset, refusing an offset beyond the function's end (as perf probe does).</summary>
    public ulong ResolveFileOffset(string name, ulong offsetInFunction = 0)
    {
        var sym = Resolve(name);
        if (sym.Size > 0 && offsetInFunction >= sym.Size)
            throw new KernelDebugException($"Offset 0x{offsetInFunction:x} is beyond the end of {name} ({sym.Size} bytes) in {Path}.",
                "OffsetOutsideFunction", ErrorCategory.InvalidArgument) { Target = name };
        ulong offset = sym.FileOffset + offsetInFunction;
        if (offset < sym.FileOffset || offset >= (ulong)Length)
            throw new KernelDebugException($"{name}+0x{offsetInFunction:x} resolves to file offset 0x{offset:x}, beyond the end of {Path} ({Length} bytes): the file's symbol or segment tables are corrupt.",
                "CorruptElf", ErrorCategory.InvalidData) { Target = name };
        return offset;
    }

    /// <summary>The function containing a file offset, or null.</summary>
    public ElfSymbol? SymbolAt(ulong fileOffset) =>
        _symbols.Where(s => fileOffset >= s.FileOffset && fileOffset < s.FileOffset + Math.Max(1, s.Size))
            .OrderBy(s => s.Source).FirstOrDefault();

    /// <summary>
    /// The bytes of the executable PT_LOAD segments of an x86-64 file, by link-time address; null for another machine,
    /// or when the file can no longer be read as it was.
    /// </summary>
    public IReadOnlyList<(ulong Address, byte[] Bytes)>? ReadExecutableCode()
    {
        if (!IsAmd64) return null;
        var handle = RegularFile.TryOpenRead(Path, out long length);
        if (handle is null) return null;
        using var file = new FileStream(handle, FileAccess.Read, 1);
        if (length != Length) return null;
        var list = new List<(ulong, byte[])>();
        try
        {
            foreach (var (address, size, offset, executable) in LoadMap.Segments)
            {
                if (!executable) continue;
                var bytes = new byte[size];
                file.Position = (long)offset;
                file.ReadExactly(bytes);
                list.Add((address, bytes));
            }
        }
        catch (Exception e) when (IsCorruption(e)) { return null; }
        return list;
    }

    // ---------- CRC-32 of a debug link target ----------

    private static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    /// <summary>The CRC-32 (zlib's, as gdb's gnu_debuglink_crc32) of a whole file, or null when it cannot be read.</summary>
    internal static uint? FileCrc32(string path)
    {
        var handle = RegularFile.TryOpenRead(path, out _);
        if (handle is null) return null;
        using var file = new FileStream(handle, FileAccess.Read, 1);
        uint crc = 0xFFFFFFFF;
        var buffer = new byte[1 << 16];
        try
        {
            for (int n; (n = file.Read(buffer)) > 0;)
                for (int i = 0; i < n; i++) crc = CrcTable[(crc ^ buffer[i]) & 0xff] ^ (crc >> 8);
        }
        catch (IOException) { return null; }
        return ~crc;
    }

    public override string ToString() => Path;
}
