using System.Management.Automation;
using KernelDebug.Memory;

namespace KernelDebug.Commands;

/// <summary>Clears kmemleak's list of suspects (marks them grey), so the next scan shows only new leaks.</summary>
[Cmdlet(VerbsCommon.Clear, "KmemleakReport", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
public sealed class ClearKmemleakReportCommand : PSCmdlet
{
    protected override void EndProcessing()
    {
        try
        {
            var path = Kmemleak.ControlFilePath(WriteVerbose);
            if (ShouldProcess(path, "clear the list of suspected leaks")) Kmemleak.Command(path, "clear");
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e); }
    }
}
