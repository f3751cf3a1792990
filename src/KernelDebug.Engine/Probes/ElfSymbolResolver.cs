using System.Management.Automation;
using ELFSharp.ELF;
using ELFSharp.ELF.Sections;
using ELFSharp.ELF.Segments;
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
        private readonly List<(ulong Address, ulong FileSize, ulong Offset, bool Executable)> _loads = new();
        private readonly Dictionary<string, List<ElfSymbol>> _byName = new(StringComparer.Ordinal);
        private readonly List<ElfSymbol> _symbols = new();

        private ElfSymbolResolver(string path, IELF elf)
        {
            Path = path;
            _elf = elf;
            bool interp = false;
            if (elf is ELF<ulong> e64)
            {
                Machine = e64.Machine.ToString();
                foreach (var seg in e64.Segments)
                {
                    if (seg.Type == SegmentType.Load) _loads.Add((seg.Address, (ulong)seg.FileSize, (ulong)seg.Offset, (seg.Flags & SegmentFlags.Execute) != 0));
                    if (seg.Type == SegmentType.Interpreter) interp = true;
                }
                Kind = e64.Type switch
                {
                    FileType.Executable => ElfFileKind.Executable,
                    FileType.SharedObject => IsPie(e64, interp) ? ElfFileKind.PositionIndependentExecutable : ElfFileKind.SharedObject,
                    FileType.Relocatable => ElfFileKind.Relocatable,
                    _ => ElfFileKind.Other,
                };
                Read<ulong>(e64, ".symtab", ElfSymbolSource.SymTab);
                Read<ulong>(e64, ".dynsym", ElfSymbolSource.DynSym);
            }
            else if (elf is ELF<uint> e32)
            {
                Machine = e32.Machine.ToString();
                foreach (var seg in e32.Segments)
                {
                    if (seg.Type == SegmentType.Load) _loads.Add((seg.Address, (ulong)seg.FileSize, (ulong)seg.Offset, (seg.Flags & SegmentFlags.Execute) != 0));
                    if (seg.Type == SegmentType.Interpreter) interp = true;
                }
                Kind = e32.Type switch
                {
                    FileType.Executable => ElfFileKind.Executable,
                    FileType.SharedObject => IsPie(e32, interp) ? ElfFileKind.PositionIndependentExecutable : ElfFileKind.SharedObject,
                    FileType.Relocatable => ElfFileKind.Relocatable,
                    _ => ElfFileKind.Other,
                };
                Read<uint>(e32, ".symtab", ElfSymbolSource.SymTab);
                Read<uint>(e32, ".dynsym", ElfSymbolSource.DynSym);
            }
            else
            {
                Machine = elf.Machine.ToString();
            }
            HasSymTab = _symbols.Any(s => s.Source == ElfSymbolSource.SymTab);
        }

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
                bool function = entry.Type == SymbolType.Function || (int)entry.Type == 10; // STT_GNU_IFUNC
                if (!function || entry.PointedSectionIndex == 0 || entry.IsPointedIndexSpecial || string.IsNullOrEmpty(entry.Name)) continue;
                ulong address = Convert.ToUInt64(entry.Value);
                if (address == 0) continue;
                if (_byName.TryGetValue(entry.Name, out var list) && list.Any(x => x.Address == address)) continue;
                var offset = VirtualAddressToFileOffset(address);
                if (offset is null) continue;
                var sym = new ElfSymbol(entry.Name, address, Convert.ToUInt64(entry.Size), offset.Value, entry.Binding.ToString(), source, Path);
                _symbols.Add(sym);
                if (list is null) _byName[entry.Name] = list = new List<ElfSymbol>();
                list.Add(sym);
            }
        }

        /// <summary>The file offset of a link-time virtual address: inside which PT_LOAD, minus its address, plus its offset.</summary>
        public ulong? VirtualAddressToFileOffset(ulong address)
        {
            foreach (var l in _loads.OrderByDescending(l => l.Executable))
                if (address >= l.Address && address < l.Address + l.FileSize) return address - l.Address + l.Offset;
            return null;
        }

        /// <summary>The link-time virtual address of a file offset (inverse of VirtualAddressToFileOffset).</summary>
        public ulong? FileOffsetToVirtualAddress(ulong offset)
        {
            foreach (var l in _loads.OrderByDescending(l => l.Executable))
                if (offset >= l.Offset && offset < l.Offset + l.FileSize) return offset - l.Offset + l.Address;
            return null;
        }

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
