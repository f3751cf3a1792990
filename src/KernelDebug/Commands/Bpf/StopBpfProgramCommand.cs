using System.Management.Automation;
using KernelDebug.Bpf;

namespace KernelDebug.Commands;

/// <summary>Detaches programs (all their attachments), or single attachments; the programs stay loaded.</summary>
[Cmdlet(VerbsLifecycle.Stop, "BpfProgram", DefaultParameterSetName = "Program", SupportsShouldProcess = true)]
public sealed class StopBpfProgramCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = "Program")]
    public BpfObjectProgram[] Program { get; set; } = Array.Empty<BpfObjectProgram>();

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = "Attachment")]
    public BpfAttachment[] Attachment { get; set; } = Array.Empty<BpfAttachment>();

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = "Object")]
    public BpfObject Object { get; set; } = null!;

    protected override void ProcessRecord()
    {
        var attachments = ParameterSetName switch
        {
            "Attachment" => Attachment.ToList(),
            "Object" => Object.Programs.SelectMany(p => p.Attachments).ToList(),
            _ => Program.SelectMany(p => p.Attachments).ToList(),
        };
        foreach (var a in attachments)
            if (ShouldProcess($"{a.ObjectName}/{a.ProgramName}", $"Detach from {a.Kind} {a.Target}")) a.Dispose();
    }
}
