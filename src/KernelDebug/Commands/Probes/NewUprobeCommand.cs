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
        if (ParameterSetName == "Address") fileOffset = Address;
        else
        {
            using var elf = ElfSymbolResolver.Open(path);
            fileOffset = elf.ResolveFileOffset(Symbol, Offset);
            WriteVerbose($"{Symbol}+0x{Offset:x} in {elf.Path} ({elf.Kind}) is at file offset 0x{fileOffset:x}.");
            path = elf.Path;
        }
        return ProbeCommand.Uprobe(GroupWord, Name, path, fileOffset, Return, Argument, ReferenceCounterOffset);
    }
}
