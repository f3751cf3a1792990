using System.Buffers.Binary;
using System.Management.Automation;
using System.Text;
using ELFSharp.ELF;
using ELFSharp.ELF.Sections;
using KernelDebug.Native;

namespace KernelDebug.Bpf;

/// <summary>A map an object file declares: BTF-defined (.maps), legacy (maps), or a global-data section (.rodata, .data, .bss).</summary>
public sealed class BpfMapSpec
{
    public string Name { get; init; } = "";
    public uint Type { get; set; }
    public uint KeySize { get; set; }
    public uint ValueSize { get; set; }
    public uint MaxEntries { get; set; }
    public uint Flags { get; set; }
    public uint BtfKeyTypeId { get; set; }
    public uint BtfValueTypeId { get; set; }
    /// <summary>The section for global data; its contents are the initial value (constants set before load).</summary>
    public string? DataSection { get; init; }
    public byte[]? InitialData { get; init; }
    /// <summary>.rodata*: read-only for the program and frozen after its value is written, so the verifier sees constants.</summary>
    public bool IsReadOnly { get; init; }
    /// <summary>LIBBPF_PIN_BY_NAME (1): the map is pinned in bpffs under its name, and a map already pinned there is reused.</summary>
    public uint Pinning { get; set; }
    /// <summary>The map's full name as the object declares it (Name is cut to the kernel's 15 characters): its pin's file name.</summary>
    public string PinName { get; set; } = "";
    internal int ElfSection { get; init; }
    internal ulong ElfOffset { get; init; }
}

/// <summary>One function of an executable section: a program entry point, or a subprogram others call.</summary>
internal sealed class BpfFunction
{
    public string Name = "";
    public int Section;
    public ulong Offset;      // bytes into its section
    public byte[] Insns = System.Array.Empty<byte>();
    public bool IsProgram;
    public readonly List<(int Insn, int Map, bool Value, long Addend)> MapRefs = new();
    public readonly List<(int Insn, int Section, long TargetInsn)> Calls = new();
    public readonly List<BtfExtRecord> FuncInfo = new();
    public readonly List<BtfExtRecord> LineInfo = new();
    public readonly List<BtfExtRecord> CoreRelos = new();
    public int InsnCount => Insns.Length / 8;
    public bool Contains(int section, long insn) => section == Section && insn >= (long)Offset / 8 && insn < (long)Offset / 8 + InsnCount;
}

/// <summary>A program an object file declares: its section decides the type and the attach point, as libbpf's names say.</summary>
public sealed class BpfProgramSpec
{
    public string Name { get; init; } = "";
    public string SectionName { get; init; } = "";
    public uint Type { get; init; }
    public uint ExpectedAttachType { get; init; }
    /// <summary>What the section names to attach to (category/name, a function, a path:symbol); empty when the user must say.</summary>
    public string AttachTarget { get; init; } = "";
    public BpfAttachKind AttachKind { get; init; }
    internal BpfFunction Function { get; init; } = null!;
}

public enum BpfAttachKind { None, Tracepoint, RawTracepoint, TracepointBtf, Kprobe, Kretprobe, Uprobe, Uretprobe, PerfEvent, Fentry, Fexit }

/// <summary>
/// A parsed BPF ELF object (clang -target bpf): programs, subprograms, maps, global data, license, BTF and BTF.ext,
/// with every relocation recorded so that loading only fills in fds and CO-RE results.
/// </summary>
public sealed class BpfObjectSpec
{
    private const byte LdImm64 = 0x18, Call = 0x85;
    private const byte PseudoCall = 1, PseudoFunc = 4;

    public string Path { get; private init; } = "";
    public string Name { get; private init; } = "";
    public string License { get; private set; } = "";
    public uint KernelVersion { get; private set; }
    public List<BpfMapSpec> Maps { get; } = new();
    public List<BpfProgramSpec> Programs { get; } = new();
    /// <summary>The object's BTF as clang wrote it (null without -g); <see cref="KernelBtf"/> is the copy the kernel accepts.</summary>
    public BtfSpec? Btf { get; private set; }
    internal byte[]? BtfBytes { get; private set; }
    internal byte[]? KernelBtf { get; private set; }
    internal BtfExt? Ext { get; private set; }
    internal List<BpfFunction> Functions { get; } = new();
    internal Dictionary<string, (int Section, ulong Offset, ulong Size)> DataSymbols { get; } = new();
    internal List<BpfExtern> Externs { get; private set; } = new();
    private int _kconfigMap = -1;

    private static KernelDebugException Bad(string path, string why) =>
        new($"'{path}' is not a BPF object the loader can use: {why}.", "BpfObjectInvalid", ErrorCategory.InvalidData) { Target = path };

    public static BpfObjectSpec Read(string path)
    {
        if (!File.Exists(path)) throw new KernelDebugException($"The file '{path}' does not exist.", "BpfObjectNotFound", ErrorCategory.ObjectNotFound) { Target = path };
        var bytes = File.ReadAllBytes(path);
        return Parse(bytes, System.IO.Path.GetFullPath(path));
    }

    /// <summary>The module's own programs (src/KernelDebug.Engine/Bpf/Programs), embedded in the dll.</summary>
    public static IReadOnlyList<string> BuiltInNames => typeof(BpfObjectSpec).Assembly.GetManifestResourceNames()
        .Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal) && n.EndsWith(".bpf.o", StringComparison.Ordinal)).Select(n => n[ResourcePrefix.Length..^6]).Order().ToList();

    private const string ResourcePrefix = "KernelDebug.Bpf.Programs.";

    public static BpfObjectSpec BuiltIn(string name)
    {
        using var s = typeof(BpfObjectSpec).Assembly.GetManifestResourceStream(ResourcePrefix + name + ".bpf.o")
            ?? throw new KernelDebugException($"The module has no built-in BPF program '{name}' (it has {string.Join(", ", BuiltInNames)}).", "BpfBuiltInNotFound", ErrorCategory.ObjectNotFound) { Target = name };
        var ms = new MemoryStream();
        s.CopyTo(ms);
        return Parse(ms.ToArray(), name + ".bpf.o");
    }

    public static BpfObjectSpec Parse(byte[] file, string path)
    {
        IELF? ielf;
        try
        {
            if (!ELFReader.TryLoad(new MemoryStream(file, writable: false), shouldOwnStream: true, out ielf))
                throw Bad(path, "not an ELF file");
        }
        catch (Exception e) when (e is not KernelDebugException) { throw Bad(path, $"unreadable ELF ({e.Message})"); }
        using var elf = ielf;
        if (elf is not ELF<ulong> elf64 || elf.Machine != (Machine)247 /* EM_BPF */)
            throw Bad(path, $"machine {elf.Machine}, not EM_BPF (build it with clang -target bpf)");
        if (elf.Endianess != ELFSharp.Endianess.LittleEndian) throw Bad(path, "big-endian BPF");
        var spec = new BpfObjectSpec { Path = path, Name = System.IO.Path.GetFileName(path).Split('.')[0] };
        spec.Load(elf64, path);
        return spec;
    }

    private void Load(ELF<ulong> elf, string path)
    {
        var sections = elf.Sections.ToList();
        var symtab = sections.OfType<SymbolTable<ulong>>().FirstOrDefault() ?? throw Bad(path, "no symbol table");
        var symbols = symtab.Entries.ToList();

        if (elf.TryGetSection(".BTF", out var btfSec))
        {
            BtfBytes = btfSec.GetContents();
            Btf = BtfSpec.Parse(BtfBytes);
        }
        if (elf.TryGetSection(".BTF.ext", out var extSec) && Btf is not null)
            Ext = BtfExt.Parse(extSec.GetContents(), BtfBytes!);
        if (elf.TryGetSection("license", out var lic)) License = Encoding.ASCII.GetString(lic.GetContents()).TrimEnd('\0');
        if (elf.TryGetSection("version", out var ver) && ver.GetContents() is { Length: >= 4 } vb) KernelVersion = BinaryPrimitives.ReadUInt32LittleEndian(vb);

        // Maps: BTF-defined first, then legacy, then global data.
        int mapsSec = sections.FindIndex(s => s.Name == ".maps");
        if (mapsSec >= 0) ReadBtfMaps(path, symbols, mapsSec);
        int legacySec = sections.FindIndex(s => s.Name == "maps");
        if (legacySec >= 0) ReadLegacyMaps(path, sections[legacySec].GetContents(), symbols, legacySec);
        for (int i = 0; i < sections.Count; i++)
        {
            var s = (Section<ulong>)sections[i];
            if (!IsDataSection(s.Name) || (s.Flags & SectionFlags.Allocatable) == 0 || s.Size == 0) continue;
            bool bss = s.Type == SectionType.NoBits;
            Maps.Add(new BpfMapSpec
            {
                Name = MapNameOf(s.Name), Type = 2 /* array */, KeySize = 4, ValueSize = (uint)s.Size, MaxEntries = 1,
                Flags = s.Name.StartsWith(".rodata", StringComparison.Ordinal) ? 0x80u /* BPF_F_RDONLY_PROG */ : 0, DataSection = s.Name,
                InitialData = bss ? new byte[s.Size] : s.GetContents(), IsReadOnly = s.Name.StartsWith(".rodata", StringComparison.Ordinal), ElfSection = i,
                BtfValueTypeId = Btf?.Types.FirstOrDefault(t => t.Kind == BtfKind.Datasec && t.Name == s.Name)?.Id ?? 0,
            });
        }
        foreach (var sym in symbols)
            if (sym.Type == SymbolType.Object && !sym.IsPointedIndexSpecial && sym.PointedSectionIndex > 0 && sym.PointedSectionIndex < sections.Count
                && IsDataSection(sections[sym.PointedSectionIndex].Name) && !string.IsNullOrEmpty(sym.Name))
                DataSymbols[sym.Name] = (sym.PointedSectionIndex, sym.Value, sym.Size);

        // Externs (__kconfig, __ksym): undefined symbols the BTF declares in .kconfig and .ksyms.
        var undefined = symbols.Where(y => y.PointedSectionIndex == 0 && !string.IsNullOrEmpty(y.Name) && y.Type != SymbolType.File && y.Type != SymbolType.Section)
            .GroupBy(y => y.Name).ToDictionary(g => g.Key, g => g.All(y => y.Binding == SymbolBinding.Weak), StringComparer.Ordinal);
        if (undefined.Count > 0 && Btf is not null)
        {
            Externs = BpfExterns.Collect(Btf, undefined, path, out uint kconfigSize);
            if (Externs.Any(e => e.Kind == BpfExternKind.Kconfig))
            {
                _kconfigMap = Maps.Count;
                Maps.Add(new BpfMapSpec
                {
                    Name = BpfExterns.KconfigSection, Type = 2 /* array */, KeySize = 4, ValueSize = kconfigSize, MaxEntries = 1, Flags = 0x80u /* BPF_F_RDONLY_PROG */,
                    DataSection = BpfExterns.KconfigSection, InitialData = BpfExterns.KconfigData(Btf, Externs, kconfigSize, path), IsReadOnly = true, ElfSection = -1,
                    BtfValueTypeId = Btf.Types.FirstOrDefault(t => t.Kind == BtfKind.Datasec && t.Name == BpfExterns.KconfigSection)?.Id ?? 0,
                });
            }
        }

        // Functions of executable sections.
        for (int i = 0; i < sections.Count; i++)
        {
            var s = (Section<ulong>)sections[i];
            if (s.Type != SectionType.ProgBits || (s.Flags & SectionFlags.Executable) == 0 || s.Size == 0) continue;
            var code = s.GetContents();
            var funcs = symbols.Where(y => y.Type == SymbolType.Function && y.PointedSectionIndex == i && !y.IsPointedIndexSpecial).OrderBy(y => y.Value).ToList();
            if (funcs.Count == 0) throw Bad(path, $"section '{s.Name}' has code but no function symbol");
            foreach (var f in funcs)
            {
                ulong size = f.Size != 0 ? f.Size : (ulong)code.Length - f.Value;
                if (f.Value + size > (ulong)code.Length || f.Value % 8 != 0 || size % 8 != 0) throw Bad(path, $"function '{f.Name}' lies outside its section");
                var fn = new BpfFunction { Name = f.Name, Section = i, Offset = f.Value, Insns = code.AsSpan((int)f.Value, (int)size).ToArray(), IsProgram = s.Name != ".text" };
                Functions.Add(fn);
                if (fn.IsProgram) Programs.Add(ProgramOf(fn, s.Name));
            }
        }

        // Relocations: .rel<section> for each executable section.
        foreach (var rs in sections.Where(s => s.Type == SectionType.Relocation))
        {
            var targetName = rs.Name.StartsWith(".rel", StringComparison.Ordinal) ? rs.Name[4..] : "";
            int target = sections.FindIndex(s => s.Name == targetName);
            if (target < 0 || ((Section<ulong>)sections[target]).Flags.HasFlag(SectionFlags.Executable) == false) continue;
            var rel = rs.GetContents();
            for (int at = 0; at + 16 <= rel.Length; at += 16)
            {
                ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(rel.AsSpan(at));
                ulong info = BinaryPrimitives.ReadUInt64LittleEndian(rel.AsSpan(at + 8));
                int symIndex = (int)(info >> 32);
                if (symIndex >= symbols.Count) throw Bad(path, $"relocation against symbol {symIndex} of {symbols.Count}");
                Relocate(path, sections, symbols[symIndex], target, offset);
            }
        }

        // Calls without relocations (within a section) and pseudo-func loads.
        foreach (var fn in Functions)
            for (int k = 0; k < fn.InsnCount; k++)
            {
                byte op = fn.Insns[k * 8], src = (byte)(fn.Insns[k * 8 + 1] >> 4);
                if (op == Call && src == PseudoCall && !fn.Calls.Any(c => c.Insn == k))
                    fn.Calls.Add((k, fn.Section, (long)fn.Offset / 8 + k + Imm(fn.Insns, k) + 1));
                if (op == LdImm64) k++;
            }

        if (Ext is not null) Ext.Distribute(this, sections.Select(s => s.Name).ToList());
        if (BtfBytes is not null) KernelBtf = BtfFixup.ForKernel(BtfBytes, sections.Select(s => s.Name).ToList(), sections.Select(s => (ulong)((Section<ulong>)s).Size).ToList(),
            symbols.Where(y => y.Type == SymbolType.Object && !y.IsPointedIndexSpecial && !string.IsNullOrEmpty(y.Name))
                .GroupBy(y => y.Name).ToDictionary(g => g.Key, g => ((int)g.First().PointedSectionIndex, g.First().Value, g.First().Size)),
            Externs, _kconfigMap >= 0 ? Maps[_kconfigMap].ValueSize : 0);
    }

    internal static int Imm(byte[] insns, int k) => BinaryPrimitives.ReadInt32LittleEndian(insns.AsSpan(k * 8 + 4));

    private static bool IsDataSection(string name) =>
        name is ".rodata" or ".data" or ".bss" || name.StartsWith(".rodata.", StringComparison.Ordinal) || name.StartsWith(".data.", StringComparison.Ordinal) || name.StartsWith(".bss.", StringComparison.Ordinal);

    // Kernel map names: 15 characters of [A-Za-z0-9_.].
    internal static string MapNameOf(string name)
    {
        var sb = new StringBuilder();
        foreach (var c in name) if (char.IsAsciiLetterOrDigit(c) || c is '_' or '.') sb.Append(c);
        return sb.Length > 15 ? sb.ToString(0, 15) : sb.ToString();
    }

    private void Relocate(string path, List<Section<ulong>> sections, SymbolEntry<ulong> sym, int section, ulong offset)
    {
        var fn = Functions.FirstOrDefault(f => f.Section == section && offset >= f.Offset && offset < f.Offset + (ulong)f.Insns.Length)
            ?? throw Bad(path, $"relocation at {offset} of section '{sections[section].Name}' outside every function");
        int k = (int)((offset - fn.Offset) / 8);
        byte op = fn.Insns[k * 8];
        int imm = Imm(fn.Insns, k);
        if (sym.PointedSectionIndex == 0)
        {
            RelocateExtern(path, fn, k, op, sym.Name);
            return;
        }
        if (sym.IsPointedIndexSpecial) throw Bad(path, $"relocation against '{sym.Name}', a symbol in no section");
        int symSec = sym.PointedSectionIndex;
        var secName = sections[symSec].Name;
        bool exec = ((Section<ulong>)sections[symSec]).Flags.HasFlag(SectionFlags.Executable);
        if (op == Call)
        {
            if (!exec) throw Bad(path, $"call relocation against '{sym.Name}' in non-code section '{secName}'");
            fn.Calls.Add((k, symSec, (long)sym.Value / 8 + imm + 1));
            return;
        }
        if (op != LdImm64) throw Bad(path, $"relocation on instruction {k} of '{fn.Name}' (opcode 0x{op:x2}), not a 64-bit load or a call");
        if (exec)
        {
            // The address of a function (a callback for bpf_loop and friends): a pseudo-func load.
            fn.Insns[k * 8 + 1] = (byte)((fn.Insns[k * 8 + 1] & 0x0f) | (PseudoFunc << 4));
            fn.Calls.Add((k, symSec, ((long)sym.Value + imm) / 8));
            return;
        }
        int map = Maps.FindIndex(m => m.DataSection is null && m.ElfSection == symSec && m.ElfOffset == sym.Value);
        if (map >= 0) { fn.MapRefs.Add((k, map, false, 0)); return; }
        map = Maps.FindIndex(m => m.DataSection is not null && m.ElfSection == symSec);
        if (map >= 0)
        {
            long addend = sym.Type == SymbolType.Section ? imm : (long)sym.Value + imm;
            fn.MapRefs.Add((k, map, true, addend));
            return;
        }
        throw Bad(path, $"relocation against '{sym.Name}' in section '{secName}', which is neither a map nor global data");
    }

    private KernelDebug.Symbols.Kallsyms? _kallsyms;

    /// <summary>An instruction that names an extern: a .kconfig map value load, a kernel address, a vmlinux BTF id.</summary>
    private void RelocateExtern(string path, BpfFunction fn, int k, byte op, string name)
    {
        var ext = Externs.FirstOrDefault(e => e.Name == name)
            ?? throw new KernelDebugException($"'{path}' uses the undefined symbol '{name}', which is neither a __kconfig nor a __ksym extern (compile with -g so its BTF says which).",
                "BpfExternNotSupported", ErrorCategory.NotImplemented) { Target = name };
        if (ext.Kind == BpfExternKind.Kfunc || op == Call)
        {
            if (op != Call) throw Bad(path, $"the kernel function '{name}' is used by instruction {k} of '{fn.Name}' (opcode 0x{op:x2}), not a call");
            // A kfunc call: BPF_PSEUDO_KFUNC_CALL with the function's id in vmlinux BTF (off 0: vmlinux, not a module).
            var kernel = BpfCoreRelocator.KernelBtf ?? throw new KernelDebugException(
                $"'{path}' calls the kernel function '{name}' (a kfunc), which needs the kernel's BTF (/sys/kernel/btf/vmlinux). Build a kernel with CONFIG_DEBUG_INFO_BTF=y.",
                "BpfKernelBtfMissing", ErrorCategory.NotImplemented) { Target = name };
            var f = kernel.Named(name).FirstOrDefault(t => t.Kind == BtfKind.Func);
            if (f is null && !ext.Weak)
                throw new KernelDebugException($"'{path}' calls the kernel function '{name}' (a kfunc), which the kernel's BTF does not have (kfuncs of modules are not linked). Declare it __weak and test bpf_ksym_exists() to run without it.",
                    "BpfExternNotFound", ErrorCategory.ObjectNotFound) { Target = name };
            fn.Insns[k * 8 + 1] = (byte)((fn.Insns[k * 8 + 1] & 0x0f) | (2 << 4));
            BinaryPrimitives.WriteInt16LittleEndian(fn.Insns.AsSpan(k * 8 + 2), 0);
            BinaryPrimitives.WriteInt32LittleEndian(fn.Insns.AsSpan(k * 8 + 4), (int)(f?.Id ?? 0));
            return;
        }
        if (op != LdImm64) throw Bad(path, $"extern '{name}' used by instruction {k} of '{fn.Name}' (opcode 0x{op:x2}), not a 64-bit load");
        if (ext.Kind == BpfExternKind.Kconfig)
        {
            fn.MapRefs.Add((k, _kconfigMap, true, ext.Offset));
            return;
        }
        // __ksym: untyped, the address from kallsyms; typed, the variable's id in the kernel's BTF (BPF_PSEUDO_BTF_ID).
        int src = 0;
        long value;
        if (ext.TypeId == 0)
        {
            _kallsyms ??= KernelDebug.Symbols.Kallsyms.Current;
            ulong? address = _kallsyms.AddressOf(name);
            if (address is null && !_kallsyms.Available)
                throw new KernelDebugException($"'{path}' takes the address of the kernel symbol '{name}' (__ksym), but /proc/kallsyms shows no addresses here (kptr_restrict, or not root).",
                    "BpfExternNotFound", ErrorCategory.PermissionDenied) { Target = name };
            if (address is null && !ext.Weak)
                throw new KernelDebugException($"'{path}' takes the address of the kernel symbol '{name}' (__ksym), which this kernel does not have. Declare it __weak to get 0.",
                    "BpfExternNotFound", ErrorCategory.ObjectNotFound) { Target = name };
            value = (long)(address ?? 0);
        }
        else
        {
            var vmlinux = BpfCoreRelocator.KernelBtf ?? throw new KernelDebugException(
                $"'{path}' uses the typed kernel variable '{name}' (__ksym), which needs the kernel's BTF (/sys/kernel/btf/vmlinux). Build a kernel with CONFIG_DEBUG_INFO_BTF=y.",
                "BpfKernelBtfMissing", ErrorCategory.NotImplemented) { Target = name };
            // Only per-CPU variables are VARs in vmlinux BTF, as libbpf finds them.
            var v = vmlinux.Named(name).FirstOrDefault(t => t.Kind == BtfKind.Var);
            if (v is null && !ext.Weak)
                throw new KernelDebugException($"'{path}' uses the typed kernel variable '{name}' (__ksym), which the kernel's BTF does not have (typed __ksym names per-CPU variables; declare others `const void`).",
                    "BpfExternNotFound", ErrorCategory.ObjectNotFound) { Target = name };
            if (v is not null) src = 3; // BPF_PSEUDO_BTF_ID
            value = v?.Id ?? 0;
        }
        fn.Insns[k * 8 + 1] = (byte)((fn.Insns[k * 8 + 1] & 0x0f) | (src << 4));
        BinaryPrimitives.WriteInt32LittleEndian(fn.Insns.AsSpan(k * 8 + 4), src == 3 ? (int)value : (int)(uint)(ulong)value);
        BinaryPrimitives.WriteInt32LittleEndian(fn.Insns.AsSpan(k * 8 + 12), src == 3 ? 0 : (int)(uint)((ulong)value >> 32));
    }

    private void ReadBtfMaps(string path, List<SymbolEntry<ulong>> symbols, int mapsSec)
    {
        if (Btf is null) throw Bad(path, "a .maps section without BTF (compile with -g)");
        var datasec = Btf.Types.FirstOrDefault(t => t.Kind == BtfKind.Datasec && t.Name == ".maps") ?? throw Bad(path, "no .maps DATASEC in its BTF");
        foreach (var vsi in datasec.Members)
        {
            var v = Btf[vsi.Type];
            if (v is not { Kind: BtfKind.Var }) continue;
            var def = Btf.Resolve(v.Type);
            if (def is not { Kind: BtfKind.Struct }) throw Bad(path, $"map '{v.Name}' is not a struct");
            var sym = symbols.FirstOrDefault(s => s.Name == v.Name && s.PointedSectionIndex == mapsSec)
                ?? throw Bad(path, $"map '{v.Name}' has no symbol");
            var m = new BpfMapSpec { Name = MapNameOf(v.Name), ElfSection = mapsSec, ElfOffset = sym.Value };
            foreach (var member in def.Members)
            {
                uint UIntOf()
                {
                    var p = Btf.Resolve(member.Type);
                    var a = p is { Kind: BtfKind.Ptr } ? Btf.Resolve(p.Type) : null;
                    if (a is not { Kind: BtfKind.Array }) throw Bad(path, $"map '{v.Name}' field '{member.Name}' is not __uint()");
                    return a.Count;
                }
                uint TypeOf()
                {
                    var p = Btf.Resolve(member.Type);
                    if (p is not { Kind: BtfKind.Ptr }) throw Bad(path, $"map '{v.Name}' field '{member.Name}' is not __type()");
                    return p.Type;
                }
                switch (member.Name)
                {
                    case "type": m.Type = UIntOf(); break;
                    case "max_entries": m.MaxEntries = UIntOf(); break;
                    case "map_flags": m.Flags = UIntOf(); break;
                    case "key_size": m.KeySize = UIntOf(); break;
                    case "value_size": m.ValueSize = UIntOf(); break;
                    case "key": m.BtfKeyTypeId = TypeOf(); m.KeySize = (uint)Btf.SizeOf(m.BtfKeyTypeId); break;
                    case "value": m.BtfValueTypeId = TypeOf(); m.ValueSize = (uint)Btf.SizeOf(m.BtfValueTypeId); break;
                    case "pinning":
                        m.Pinning = UIntOf();
                        if (m.Pinning > 1) throw new KernelDebugException($"Map '{v.Name}' asks for pinning type {m.Pinning}; only LIBBPF_PIN_BY_NAME (1) is defined.", "BpfMapPinningNotSupported", ErrorCategory.NotImplemented) { Target = v.Name };
                        m.PinName = v.Name;
                        break;
                    case "numa_node" or "map_extra": break;
                    case "values": throw new KernelDebugException($"Map '{v.Name}' has initial values (map-in-map or prog array), which this loader does not set.", "BpfMapValuesNotSupported", ErrorCategory.NotImplemented) { Target = v.Name };
                    default: throw Bad(path, $"map '{v.Name}' has the unknown field '{member.Name}'");
                }
            }
            // Perf event arrays: one slot per CPU unless the object says otherwise, as libbpf does.
            if (m.Type == 4 /* perf_event_array */ && m.MaxEntries == 0) m.MaxEntries = (uint)BpfMapReader.PossibleCpus();
            if (m.Type == 4) { m.KeySize = m.KeySize == 0 ? 4 : m.KeySize; m.ValueSize = m.ValueSize == 0 ? 4 : m.ValueSize; }
            Maps.Add(m);
        }
    }

    private void ReadLegacyMaps(string path, byte[] data, List<SymbolEntry<ulong>> symbols, int legacySec)
    {
        var syms = symbols.Where(s => s.PointedSectionIndex == legacySec && s.Type != SymbolType.Section && !string.IsNullOrEmpty(s.Name)).OrderBy(s => s.Value).ToList();
        if (syms.Count == 0) return;
        int size = data.Length / syms.Count;
        if (size < 20) throw Bad(path, $"legacy map definitions of {size} bytes (struct bpf_map_def has at least 20)");
        foreach (var s in syms)
        {
            int at = (int)s.Value;
            uint U(int i) => BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(at + i * 4));
            Maps.Add(new BpfMapSpec { Name = MapNameOf(s.Name), Type = U(0), KeySize = U(1), ValueSize = U(2), MaxEntries = U(3), Flags = U(4), ElfSection = legacySec, ElfOffset = s.Value });
        }
    }

    private static BpfProgramSpec ProgramOf(BpfFunction fn, string section)
    {
        // enum bpf_prog_type and bpf_attach_type values (include/uapi/linux/bpf.h).
        const uint Kprobe = 2, Tracepoint = 5, PerfEvent = 7, RawTracepoint = 17, Tracing = 26;
        static string After(string s, string prefix) => s.Length > prefix.Length ? s[prefix.Length..] : "";
        (uint type, uint attach, BpfAttachKind kind, string target) = section switch
        {
            _ when section.StartsWith("tracepoint/", StringComparison.Ordinal) => (Tracepoint, 0u, BpfAttachKind.Tracepoint, After(section, "tracepoint/")),
            _ when section.StartsWith("tp/", StringComparison.Ordinal) => (Tracepoint, 0u, BpfAttachKind.Tracepoint, After(section, "tp/")),
            _ when section.StartsWith("tp_btf/", StringComparison.Ordinal) => (Tracing, 23u, BpfAttachKind.TracepointBtf, After(section, "tp_btf/")),
            _ when section.StartsWith("raw_tracepoint/", StringComparison.Ordinal) => (RawTracepoint, 0u, BpfAttachKind.RawTracepoint, After(section, "raw_tracepoint/")),
            _ when section.StartsWith("raw_tp/", StringComparison.Ordinal) => (RawTracepoint, 0u, BpfAttachKind.RawTracepoint, After(section, "raw_tp/")),
            _ when section.StartsWith("kprobe/", StringComparison.Ordinal) || section == "kprobe" => (Kprobe, 0u, BpfAttachKind.Kprobe, After(section, "kprobe/")),
            _ when section.StartsWith("kretprobe/", StringComparison.Ordinal) || section == "kretprobe" => (Kprobe, 0u, BpfAttachKind.Kretprobe, After(section, "kretprobe/")),
            _ when section.StartsWith("uprobe/", StringComparison.Ordinal) || section == "uprobe" => (Kprobe, 0u, BpfAttachKind.Uprobe, After(section, "uprobe/")),
            _ when section.StartsWith("uretprobe/", StringComparison.Ordinal) || section == "uretprobe" => (Kprobe, 0u, BpfAttachKind.Uretprobe, After(section, "uretprobe/")),
            _ when section == "perf_event" => (PerfEvent, 0u, BpfAttachKind.PerfEvent, ""),
            _ when section.StartsWith("fentry/", StringComparison.Ordinal) => (Tracing, 24u, BpfAttachKind.Fentry, After(section, "fentry/")),
            _ when section.StartsWith("fexit/", StringComparison.Ordinal) => (Tracing, 25u, BpfAttachKind.Fexit, After(section, "fexit/")),
            _ => throw new KernelDebugException($"Program '{fn.Name}' is in section '{section}', a program type this loader does not know (tracepoint/, tp_btf/, raw_tracepoint/, kprobe/, kretprobe/, uprobe/, uretprobe/, perf_event, fentry/, fexit/).",
                "BpfProgramTypeNotSupported", ErrorCategory.NotImplemented) { Target = section },
        };
        return new BpfProgramSpec { Name = fn.Name, SectionName = section, Type = type, ExpectedAttachType = attach, AttachKind = kind, AttachTarget = target, Function = fn };
    }

    /// <summary>
    /// Sets a .rodata (or .data) variable by name before load, as libbpf skeletons do: the value is converted to the
    /// variable's BTF type (integers, bool, enums by name, char arrays from strings).
    /// </summary>
    public void SetConstant(string name, object? value)
    {
        if (!DataSymbols.TryGetValue(name, out var sym))
            throw new KernelDebugException($"The object has no global variable '{name}' to set (its variables: {string.Join(", ", DataSymbols.Keys.Order())}).", "BpfConstantNotFound", ErrorCategory.ObjectNotFound) { Target = name };
        var map = Maps.First(m => m.ElfSection == sym.Section && m.DataSection is not null);
        if (map.DataSection!.StartsWith(".bss", StringComparison.Ordinal)) throw new KernelDebugException($"'{name}' is in .bss; only initialised globals (.rodata, .data) can be set before load.", "BpfConstantNotSettable", ErrorCategory.InvalidArgument) { Target = name };
        var type = FindVarType(name, map.DataSection);
        var bytes = ToBytes(name, value, type, (int)sym.Size);
        bytes.CopyTo(map.InitialData.AsSpan((int)sym.Offset));
    }

    private BtfType? FindVarType(string name, string section)
    {
        if (Btf is null) return null;
        var ds = Btf.Types.FirstOrDefault(t => t.Kind == BtfKind.Datasec && t.Name == section);
        var v = ds?.Members.Select(m => Btf[m.Type]).FirstOrDefault(t => t?.Name == name);
        return v is null ? null : Btf.Resolve(v.Type);
    }

    private byte[] ToBytes(string name, object? value, BtfType? type, int size)
    {
        value = value is PSObject ps ? ps.BaseObject : value;
        var bytes = new byte[size];
        KernelDebugException Wrong(string why) => new($"Cannot set '{name}' to '{value}': {why}.", "BpfConstantInvalid", ErrorCategory.InvalidArgument) { Target = name };
        if (type is { Kind: BtfKind.Array } && value is string str)
        {
            var s = Encoding.UTF8.GetBytes(str);
            if (s.Length >= size) throw Wrong($"the string needs {s.Length + 1} bytes, the array has {size}");
            s.CopyTo(bytes, 0);
            return bytes;
        }
        if (type is { Kind: BtfKind.Enum or BtfKind.Enum64 } && value is string en)
        {
            var m = type.Members.FirstOrDefault(x => string.Equals(x.Name, en, StringComparison.OrdinalIgnoreCase)) ?? throw Wrong($"no enumerator of that name in enum {type.Name}");
            value = m.Value;
        }
        if (value is byte[] raw)
        {
            if (raw.Length != size) throw Wrong($"{raw.Length} bytes for a {size}-byte variable");
            return raw;
        }
        if (size is not (1 or 2 or 4 or 8) || (type is not null && type.Kind is not (BtfKind.Int or BtfKind.Enum or BtfKind.Enum64 or BtfKind.Ptr)))
            throw Wrong($"a {size}-byte {type?.Kind.ToString() ?? "variable"} takes a string (char arrays) or a byte[] of that size");
        long v;
        try { v = value is bool b ? (b ? 1 : 0) : value is ulong ul ? (long)ul : Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture); }
        catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException) { throw Wrong("not an integer"); }
        bool signed = type?.Signed ?? false;
        long min = signed ? -(1L << (size * 8 - 1)) : 0;
        if (size < 8 && (v < min || (ulong)v > (signed ? (1UL << (size * 8 - 1)) - 1 : (1UL << (size * 8)) - 1)))
            throw Wrong($"out of range for a {(signed ? "signed" : "unsigned")} {size * 8}-bit integer");
        BinaryPrimitives.WriteInt64LittleEndian(bytes.Length == 8 ? bytes : new byte[8], v);
        if (size < 8) { var tmp = new byte[8]; BinaryPrimitives.WriteInt64LittleEndian(tmp, v); tmp.AsSpan(0, size).CopyTo(bytes); }
        return bytes;
    }
}
