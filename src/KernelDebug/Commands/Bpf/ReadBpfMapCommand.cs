using System.Management.Automation;
using KernelDebug.Bpf;

namespace KernelDebug.Commands;

/// <summary>Reads the entries of an eBPF map, decoding keys and values through the map's BTF where it has some.</summary>
[Cmdlet(VerbsCommunications.Read, "BpfMap")]
[OutputType(typeof(BpfMapEntry))]
public sealed class ReadBpfMapCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("MapId")]
    public uint Id { get; set; }

    /// <summary>Bytes only: skip the BTF decoding.</summary>
    [Parameter]
    public SwitchParameter Raw { get; set; }

    protected override void ProcessRecord()
    {
        try
        {
            foreach (var e in BpfMapReader.Read(Id, Raw)) WriteObject(e);
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, Id); }
    }
}
