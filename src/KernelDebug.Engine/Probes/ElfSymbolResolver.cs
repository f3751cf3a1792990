using System.Buffers.Binary;
using System.Management.Automation;
using ELFSharp.ELF;
using ELFSharp.ELF.Sections;
using KernelDebug.Native;

namespace KernelDebug.Probes
{
    /// <summary>
    /// Function symbols of an ELF file (.symtab and .dynsym), and virtual address to file offset through the PT_LOAD
    /// program headers — the offset a uprobe takes, as perf probe -x computes it. Works for executables, PIEs and
    /// shared libraries; reusable by anything that places uprobes (library-call tracing, USDT-like probes).
    /// </summary>
    public sealed class ElfSymbolResolver : IDisposable
    {
        private readonly IELF _elf;
        private readonly ElfLoadMap _loads;
        private readonly Dictionary<string, List<ElfSymbol>> _byName = new(StringComparer.Ordinal);
        private readonly List<ElfSymbol> _symbols = new();

        private ElfSymbolResolver(string path, IELF elf, long length)
        {
            Path = path;
            _elf = elf;
            Length = length;
            _loads = ElfLoadMap.Of(elf, length);
            Machine = elf.Machine.ToString();
            bool interp = ElfLoadMap.HasInterpreter(elf);
            if (elf is ELF<ulong> e64)
            {
                Kind = KindOf(e64, interp);
                Read<ulong>(e64, ".symtab", ElfSymbolSource.SymTab);
                Read<ulong>(e64, ".dynsym", ElfSymbolSource.DynSym);
            }
            else if (elf is ELF<uint> e32)
            {
                Kind = KindOf(e32, interp);
                Read<uint>(e32, ".symtab", ElfSymbolSource.SymTab);
                Read<uint>(e32, ".dynsym", ElfSymbolSource.DynSym);
            }
            HasSymTab = _symbols.Any(s => s.Source == ElfSymbolSource.SymTab);
        }

        private static ElfFileKind KindOf<T>(ELF<T> elf, bool hasInterpreter) where T : struct => elf.Type switch
        {
            FileType.Executable => ElfFileKind.Executable,
            FileType.SharedObject => IsPie(elf, hasInterpreter) ? ElfFileKind.PositionIndependentExecutable : ElfFileKind.SharedObject,
            FileType.Relocatable => ElfFileKind.Relocatable,
            _ => ElfFileKind.Other,
        };

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
                ulong tag = Convert.ToUInt64(e.Tag), value = Convert.ToUInt64(e.Value);
                if (tag == DT_FLAGS_1 && (value & DF_1_PIE) != 0) return true;
                if (tag == DT_SONAME) soname = true;
            }
            return hasInterpreter && !soname;
        }

        /// <summary>Opens an ELF file; throws KernelDebugException (ObjectNotFound / InvalidData) with a clear message.</summary>
        public static ElfSymbolResolver Open(string path)
        {
            if (Directory.Exists(path))
                throw new KernelDebugException($"'{path}' is a directory, not an ELF file.", "NotAnElfFile", ErrorCategory.InvalidArgument) { Target = path };
            if (!File.Exists(path))
                throw new KernelDebugException($"The file '{path}' does not exist.", "ElfFileNotFound", ErrorCategory.ObjectNotFound) { Target = path };
            var (handle, length) = Host.RegularFile.OpenRead(path, "ElfFile", "ELF file");
            var stream = new FileStream(handle, FileAccess.Read, 1);
            IELF? elf = null;
            try
            {
                if (!ELFReader.TryLoad(stream, shouldOwnStream: true, out elf))
                    throw new KernelDebugException($"'{path}' is not an ELF file.", "NotAnElfFile", ErrorCategory.InvalidData) { Target = path };
                return new ElfSymbolResolver(System.IO.Path.GetFullPath(path), elf, length);
            }
            catch (Exception e) when (ElfInput.IsCorruption(e))
            {
                elf?.Dispose();
                throw ElfInput.Corrupt(path, e);
            }
            finally { if (elf is null) stream.Dispose(); }
        }

        /// <summary>The file's size when it was opened: every file offset given out lies below it.</summary>
        public long Length { get; }

        public string Path { get; }
        public ElfFileKind Kind { get; }
        public string Machine { get; } = string.Empty;
        /// <summary>False for a stripped file: only the dynamic symbols (exported functions) can be found.</summary>
        public bool HasSymTab { get; }

        /// <summary>Every defined function symbol, .symtab first, then .dynsym entries not already found there.</summary>
        public IReadOnlyList<ElfSymbol> Symbols => _symbols;

        private void Read<T>(ELF<T> elf, string section, ElfSymbolSource source) where T : struct
        {
            if (!elf.TryGetSection(section, out var s) || s is not SymbolTable<T> table) return;
            var versions = source == ElfSymbolSource.DynSym ? DynamicSymbolVersions(elf) : null;
            int index = -1;
            foreach (var entry in table.Entries)
            {
                index++;
                bool indirect = (int)entry.Type == 10; // STT_GNU_IFUNC
                if (!(entry.Type == SymbolType.Function || indirect) || entry.PointedSectionIndex == 0 || entry.IsPointedIndexSpecial || string.IsNullOrEmpty(entry.Name)) continue;
                ulong address = Convert.ToUInt64(entry.Value);
                if (address == 0) continue;
                var (version, hidden) = versions is not null && index < versions.Length ? versions[index] : (null, false);
                // One address may carry a name in several versions (__isnanf128@GLIBC_2.26 and @@GLIBC_2.34): one symbol each.
                if (_byName.TryGetValue(entry.Name, out var list)
                    && list.FindIndex(x => x.Address == address && (x.Version is null || x.Version == version)) is var at && at >= 0)
                {
                    // Found in .symtab already: it keeps its place and takes the version .dynsym knows.
                    if (version is not null && list[at].Version is null) Replace(list, at, list[at] with { Version = version, IsHiddenVersion = hidden });
                    continue;
                }
                var offset = VirtualAddressToFileOffset(address);
                if (offset is null) continue;
                var sym = new ElfSymbol(entry.Name, address, Convert.ToUInt64(entry.Size), offset.Value, entry.Binding.ToString(), source, Path)
                {
                    IsIndirect = indirect, Version = version, IsHiddenVersion = hidden,
                };
                _symbols.Add(sym);
                if (list is null) _byName[entry.Name] = list = new List<ElfSymbol>();
                list.Add(sym);
            }
        }

        private void Replace(List<ElfSymbol> list, int at, ElfSymbol with)
        {
            _symbols[_symbols.IndexOf(list[at])] = with;
            list[at] = with;
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

        /// <summary>The file offset of a link-time virtual address (through the PT_LOAD segments).</summary>
        public ulong? VirtualAddressToFileOffset(ulong address) => _loads.ToFileOffset(address);

        /// <summary>True when the file offset is in an executable PT_LOAD segment: elsewhere a uprobe is never hit.</summary>
        public bool IsExecutableOffset(ulong offset) => _loads.IsExecutable(offset);

        /// <summary>The link-time virtual address of a file offset (inverse of VirtualAddressToFileOffset).</summary>
        public ulong? FileOffsetToVirtualAddress(ulong offset) => _loads.ToAddress(offset);

        /// <summary>
        /// All function symbols of that name (several when local symbols of different files share it, or versions do).
        /// name@VERSION and name@@VERSION pick that version, as nm -D and perf print them.
        /// </summary>
        public IReadOnlyList<ElfSymbol> Find(string name)
        {
            if (_byName.TryGetValue(name, out var list)) return list;
            int at = name.IndexOf('@');
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

        public void Dispose() => _elf.Dispose();
    }
}
