using System.Management.Automation;

namespace KernelDebug.Commands;

/// <summary>ltrace as objects: each call of the chosen library functions by a command or running processes.</summary>
[Cmdlet(VerbsCommon.Get, "LibraryCallTrace", DefaultParameterSetName = "Command")]
[OutputType(typeof(LibraryCall))]
public sealed class GetLibraryCallTraceCommand : LibraryCallCommandBase
{
    protected override void OnCall(LibraryCall call) => WriteObject(call);
}
