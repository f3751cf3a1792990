using System.Management.Automation;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Commands;

internal static class OrphanSweepCmdlet
{
    /// <summary>
    /// Removes the instances and probes that killed sessions left (OrphanSweep), each removal a verbose line. Called at the
    /// start of cmdlets that make instances or probes; a sweep that fails never fails the cmdlet.
    /// </summary>
    public static void SweepOrphans(this Cmdlet cmdlet)
    {
        try { OrphanSweep.Run(cmdlet.WriteVerbose); }
        catch (Exception e) when (e is KernelDebugException or IOException or UnauthorizedAccessException)
        {
            cmdlet.WriteVerbose($"The sweep of orphaned kerneldebug objects stopped: {e.Message}");
        }
    }
}
