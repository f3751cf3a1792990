using System.Management.Automation;
using KernelDebug.Ftrace;

namespace KernelDebug.Commands.Ftrace;

/// <summary>Removes event triggers: objects from Get-/New-TraceEventTrigger, or by instance, event and type.</summary>
[Cmdlet(VerbsCommon.Remove, "TraceEventTrigger", SupportsShouldProcess = true, DefaultParameterSetName = "InputObject")]
public sealed class RemoveTraceEventTriggerCommand : FtraceCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "InputObject")]
    public TraceEventTrigger[] InputObject { get; set; } = Array.Empty<TraceEventTrigger>();

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Name")]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance Instance { get; set; } = null!;

    [Parameter(Mandatory = true, Position = 1, ParameterSetName = "Name")]
    [ArgumentCompleter(typeof(TraceEventNameCompleter))]
    [SupportsWildcards]
    public string[] Event { get; set; } = Array.Empty<string>();

    /// <summary>The types to remove; every trigger of the events when omitted.</summary>
    [Parameter(Position = 2, ParameterSetName = "Name")]
    public TraceTriggerType[]? Type { get; set; }

    protected override void ProcessRecord()
    {
        IEnumerable<(FtraceInstance Instance, TraceEventTrigger Trigger)> targets;
        if (ParameterSetName == "InputObject")
            targets = InputObject.Select(t => (Try(() => FtraceInstance.Get(t.Instance), t.Instance), t)).ToList();
        else
            targets = Try(() => EventTriggers.List(Instance, MatchEvents(Event)), Instance)
                .Where(t => Type is null || Type.Contains(t.Type)).Select(t => (Instance, t)).ToList();
        foreach (var (instance, trigger) in targets)
        {
            if (!ShouldProcess($"{trigger.FullName} in {instance.Name}", $"Remove trigger '{trigger.Definition}'")) continue;
            try
            {
                if (!EventTriggers.Remove(instance, trigger))
                    WriteError(new ErrorRecord(new ItemNotFoundException($"{trigger.FullName} in {instance.Name} has no {trigger.Definition} trigger (any more)."),
                        "TriggerNotFound", ErrorCategory.ObjectNotFound, trigger));
            }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, trigger); }
        }
    }
}
