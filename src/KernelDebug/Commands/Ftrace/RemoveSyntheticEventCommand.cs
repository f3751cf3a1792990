using System.Management.Automation;
using KernelDebug.Ftrace;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Removes synthetic events ('!name'); one still fired or read by a hist trigger is busy until those go.</summary>
[Cmdlet(VerbsCommon.Remove, "SyntheticEvent", SupportsShouldProcess = true)]
public sealed class RemoveSyntheticEventCommand : FtraceCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(SyntheticEventNameCompleter))]
    public string[] Name { get; set; } = Array.Empty<string>();

    protected override void ProcessRecord()
    {
        Try(SyntheticEvents.EnsureAvailable);
        foreach (var name in Name)
        {
            if (!ShouldProcess(name, "Remove synthetic event")) continue;
            try
            {
                if (!SyntheticEvents.Remove(name))
                    WriteError(new ErrorRecord(new ItemNotFoundException($"There is no synthetic event named {name}."), "SyntheticEventNotFound", ErrorCategory.ObjectNotFound, name));
            }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, name); }
        }
        TraceEventCatalog.Invalidate();
    }
}
