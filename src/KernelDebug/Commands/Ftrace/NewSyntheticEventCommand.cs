using System.Management.Automation;
using KernelDebug.Ftrace;

namespace KernelDebug.Commands.Ftrace;

/// <summary>
/// Makes a synthetic event (synthetic_events, or dynamic_events "s:" with -Interface DynamicEvents or where Auto finds
/// the kernel documents it): fired by a hist trigger's onmatch/onmax action, usable as an event and as a hist key.
/// Names start with kerneldebug; removed at exit if still there.
/// </summary>
[Cmdlet(VerbsCommon.New, "SyntheticEvent", SupportsShouldProcess = true)]
[OutputType(typeof(SyntheticEvent))]
public sealed class NewSyntheticEventCommand : FtraceCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    public string Name { get; set; } = "";

    /// <summary>Fields, 'type name' each: 'pid_t pid', 'u64 lat', 'char comm[16]'.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    public string[] Field { get; set; } = Array.Empty<string>();

    /// <summary>Where to write it: Auto (dynamic_events where the kernel takes "s:", else synthetic_events).</summary>
    [Parameter]
    [ValidateSet("Auto", "SyntheticEvents", "DynamicEvents")]
    public string Interface { get; set; } = "Auto";

    protected override void ProcessRecord()
    {
        var definition = Try(() => SyntheticEvents.Definition(Name, Field), Name);
        if (!ShouldProcess(Name, $"Make synthetic event '{definition}'")) return;
        bool? dyn = Interface switch { "SyntheticEvents" => false, "DynamicEvents" => true, _ => null };
        WriteObject(Try(() => SyntheticEvents.Add(Name, Field, dyn), Name));
        TraceEventCatalog.Invalidate();
    }
}
