using System.Management.Automation;
using System.Management.Automation.Runspaces;
using KernelDebug.Ftrace;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Registers TraceRecordAdapter for KernelDebug.TraceRecord once per runspace (Update-TypeData -TypeData).</summary>
internal static class TraceRecordTypeData
{
    private static readonly HashSet<Guid> Registered = new();

    public static void Ensure(PSCmdlet cmdlet)
    {
        var runspace = Runspace.DefaultRunspace;
        if (runspace is null) return;
        lock (Registered) { if (Registered.Contains(runspace.InstanceId)) return; }
        var typeData = new TypeData(typeof(TraceRecord)) { TypeAdapter = typeof(TraceRecordAdapter) };
        // A local scope: the script's parameter must not land in the caller's variables.
        cmdlet.InvokeCommand.InvokeScript(true, ScriptBlock.Create("param($typeData) Update-TypeData -TypeData $typeData -Force"), null, typeData);
        lock (Registered) { Registered.Add(runspace.InstanceId); }
    }
}
