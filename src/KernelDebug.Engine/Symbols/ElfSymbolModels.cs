namespace KernelDebug;

/// <summary>What an ELF file is, for uprobes: an executable at a fixed address, a PIE, a shared library.</summary>
public enum ElfFileKind { Executable, PositionIndependentExecutable, SharedObject, Relocatable, Other }

/// <summary>Where an ELF symbol came from.</summary>
public enum ElfSymbolSource { SymTab, DynSym }

/// <summary>A function symbol of an ELF file with its link-time address and the file offset a uprobe takes.</summary>
public sealed record ElfSymbol(string Name, ulong Address, ulong Size, ulong FileOffset, string Binding, ElfSymbolSource Source, string Path)
{
    /// <summary>A GNU indirect function (STT_GNU_IFUNC): the symbol is the resolver that picks the implementation.</summary>
    public bool IsIndirect { get; init; }
    /// <summary>The symbol version (.gnu.version_d name, e.g. GLIBC_2.14) of a .dynsym function, when the file has versions.</summary>
    public string? Version { get; init; }
    /// <summary>A hidden (old) version, name@VER: calls linked today go to the default one, name@@VER.</summary>
    public bool IsHiddenVersion { get; init; }

    public override string ToString() => $"{Name} 0x{Address:x} (file offset 0x{FileOffset:x})";
}

/// <summary>A kernel symbol from kallsyms: its name, the module it belongs to (null: the core kernel), its start and type letter.</summary>
public readonly record struct KernelSymbol(string Name, string? Module, ulong Address, char Type);
