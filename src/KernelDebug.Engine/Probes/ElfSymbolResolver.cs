using System.Management.Automation;
using ELFSharp.ELF;
using ELFSharp.ELF.Sections;
using KernelDebug.Native;

namespace KernelDebug
{
    /// <summary>What an ELF file is, for uprobes: an executable at a fixed address, a PIE, a shared library.</summary>
    public enum ElfFileKind { Executable, PositionIndependentExecutable, SharedObject, Relocatable, Other }

    /// <summary>Where an ELF symbol came from.</summary>
    public enum ElfSymbolSource { SymTab, DynSym }

    /// <summary>A function symbol of an ELF file with its link-time address and the file offset a uprobe takes.</summary>
    public sealed record ElfSymbol(string Name, ulong Address, ulong Size, ulong FileOffset, string Binding, ElfSymbolSource Source, string Path)
    {
        /// <summary>A GNU indirect function (STT_GNU_IFUNC): the symbol is the resolver that picks the implementation.</summary>
        public bool IsIndirect { get; init; }

        public override string ToString() => $"{Name} 0x{Address:x} (file offset 0x{FileOffset:x})";
    }
}

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

        private ElfSymbolResolver(string path, IELF elf)
        {
            Path = path;
            _elf = elf;
            _loads = ElfLoadMap.Of(elf);
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
            if (!ELFReader.TryLoad(path, out IELF elf))
                throw new KernelDebugException($"'{path}' is not an ELF file.", "NotAnElfFile", ErrorCategory.InvalidData) { Target = path };
            return new ElfSymbolResolver(System.IO.Path.GetFullPath(path), elf);
        }

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
            foreach (var entry in table.Entries)
            {
                bool indirect = (int)entry.Type == 10; // STT_GNU_IFUNC
                if (!(entry.Type == SymbolType.Function || indirect) || entry.PointedSectionIndex == 0 || entry.IsPointedIndexSpecial || string.IsNullOrEmpty(entry.Name)) continue;
                ulong address = Convert.ToUInt64(entry.Value);
                if (address == 0) continue;
                if (_byName.TryGetValue(entry.Name, out var list) && list.Any(x => x.Address == address)) continue;
                var offset = VirtualAddressToFileOffset(address);
                if (offset is null) continue;
                var sym = new ElfSymbol(entry.Name, address, Convert.ToUInt64(entry.Size), offset.Value, entry.Binding.ToString(), source, Path) { IsIndirect = indirect };
                _symbols.Add(sym);
                if (list is null) _byName[entry.Name] = list = new List<ElfSymbol>();
                list.Add(sym);
            }
        }

        /// <summary>The file offset of a link-time virtual address (through the PT_LOAD segments).</summary>
        public ulong? VirtualAddressToFileOffset(ulong address) => _loads.ToFileOffset(address);

        /// <summary>True when the file offset is in an executable PT_LOAD segment: elsewhere a uprobe is never hit.</summary>
        public bool IsExecutableOffset(ulong offset) => _loads.IsExecutable(offset);

        /// <summary>The link-time virtual address of a file offset (inverse of VirtualAddressToFileOffset).</summary>
        public ulong? FileOffsetToVirtualAddress(ulong offset) => _loads.ToAddress(offset);

        /// <summary>All function symbols of that name (several when local symbols of different files share it).</summary>
        public IReadOnlyList<ElfSymbol> Find(string name)
        {
            if (_byName.TryGetValue(name, out var list)) return list;
            // Accept name@VERSION / name@@VERSION as the version-less name (dynsym names carry no version).
            int at = name.IndexOf('@');
            return at > 0 && _byName.TryGetValue(name[..at], out list) ? list : Array.Empty<ElfSymbol>();
        }

        /// <summary>The one function symbol of that name; throws SymbolNotFound or AmbiguousSymbol.</summary>
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
            throw new KernelDebugException(
                $"'{name}' names {found.Count} functions in {Path} (at {string.Join(", ", found.Select(f => $"0x{f.Address:x}"))}); give -Address with the file offset of the one you mean.",
                "AmbiguousSymbol", ErrorCategory.InvalidArgument) { Target = name };
        }

        /// <summary>The file offset of symbol+offset, refusing an offset beyond the function's end (as perf probe does).</summary>
        public ulong ResolveFileOffset(string name, ulong offsetInFunction = 0)
        {
            var sym = Resolve(name);
            if (sym.Size > 0 && offsetInFunction >= sym.Size)
                throw new KernelDebugException($"Offset 0x{offsetInFunction:x} is beyond the end of {name} ({sym.Size} bytes) in {Path}.",
                    "OffsetOutsideFunction", ErrorCategory.InvalidArgument) { Target = name };
            return sym.FileOffset + offsetInFunction;
        }

        /// <summary>The function containing a file offset, or null.</summary>
        public ElfSymbol? SymbolAt(ulong fileOffset) =>
            _symbols.Where(s => fileOffset >= s.FileOffset && fileOffset < s.FileOffset + Math.Max(1, s.Size))
                .OrderBy(s => s.Source).FirstOrDefault();

        public void Dispose() => _elf.Dispose();
    }
}
