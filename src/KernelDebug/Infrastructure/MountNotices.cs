using System.Management.Automation;
using KernelDebug.Host;

namespace KernelDebug.Commands;

internal static class MountNotices
{
    /// <summary>
    /// Writes with -Verbose the mounts of tracefs or debugfs that engine code made without a logger (KernelFileSystems
    /// queues them), so every cmdlet that may mount says so. Call it on the pipeline thread after engine calls that may
    /// reach tracefs; CmdletErrors and FtraceCmdlet call it for their cmdlets.
    /// </summary>
    public static void ReportMounts(this Cmdlet cmdlet)
    {
        while (KernelFileSystems.TryTakeUnreportedMount(out var notice)) cmdlet.WriteVerbose(notice);
    }
}
