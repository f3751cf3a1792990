using System.Management.Automation;
using KernelDebug.Probes;

namespace KernelDebug.Commands.Probes;

/// <summary>Creates a uprobe on an ELF file: a function (resolved from .symtab/.dynsym, as perf probe -x) or a file offset.</summary>
[Cmdlet(VerbsCommon.New, "Uprobe", SupportsShouldProcess = true, DefaultParameterSetName = "Symbol")]
[OutputType(typeof(ProbeDefinition))]
public sealed class NewUprobeCommand : NewProbeCmdletBase
{
    [Parameter(Mandatory = true, Position = 0)]
    public string Name { get; set; } = string.Empty;

    [Parameter(Mandatory = true, Position = 1)]
    public string Path { get; set; } = string.Empty;

    [Parameter(Mandatory = true, Position = 2, ParameterSetName = "Symbol")]
    [ArgumentCompleter(typeof(ElfFunctionCompleter))]
    public string Symbol { get; set; } = string.Empty;

    [Parameter(ParameterSetName = "Symbol")]
    public ulong Offset { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = "Address")]
    [AddressTransformation]
    public ulong Address { get; set; }

    [Parameter]
    public SwitchParameter Return { get; set; }

    [Parameter]
    public ulong? ReferenceCounterOffset { get; set; }

    public override string? EventName => Name;
    protected override ProbeKind Kind => ProbeKind.Uprobe;

    protected override string BuildDefinition()
    {
        var path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
        ulong fileOffset;
        if (ParameterSetName == "Address")
        {
            fileOffset = Address;
            CheckFileOffset(path, fileOffset);
        }
        else
        {
            var elf = KernelDebug.Symbols.ElfFile.Open(path);
            fileOffset = elf.ResolveFileOffset(Symbol, Offset);
            if (elf.Resolve(Symbol).IsIndirect)
                WriteWarning($"{Symbol} in {elf.Path} is a GNU indirect function (IFUNC): the probe sees its resolver, which the dynamic linker calls once at load, not the calls. Probe the implementation it picks (as Get-LibraryCallTrace does) to see those.");
            WriteVerbose($"{Symbol}+0x{Offset:x} in {elf.Path} ({elf.Kind}) is at file offset 0x{fileOffset:x}.");
            path = elf.Path;
        }
        return ProbeCommand.Uprobe(GroupWord, Name, path, fileOffset, Return, Argument, ReferenceCounterOffset);
    }

    /// <summary>
    /// The kernel takes any offset here but refuses to enable a uprobe past the end of the file (EINVAL, no error_log
    /// entry), and one outside the code is never hit: the first is refused now, the second warned of.
    /// </summary>
    private void CheckFileOffset(string path, ulong fileOffset)
    {
        var info = new FileInfo(path);
        if (!info.Exists) return; // the validator reports the missing file as the kernel would
        if (fileOffset >= (ulong)info.Length)
            throw new Native.KernelDebugException($"File offset 0x{fileOffset:x} is past the end of {path} ({info.Length} bytes).",
                "OffsetOutsideFile", ErrorCategory.InvalidArgument) { Target = path };
        try
        {
            var elf = KernelDebug.Symbols.ElfFile.Open(path);
            if (!elf.IsExecutableOffset(fileOffset))
                WriteWarning($"File offset 0x{fileOffset:x} of {path} is not in an executable segment: the probe will never be hit.");
            else if (elf.SymbolAt(fileOffset) is { } f)
                WriteVerbose($"File offset 0x{fileOffset:x} is {f.Name}+0x{fileOffset - f.FileOffset:x} in {path}.");
        }
        catch (Native.KernelDebugException) { /* not ELF: the kernel decides */ }
    }
}
