using System.Management.Automation;
using KernelDebug.Ftrace;
using KernelDebug.Host;

namespace KernelDebug.Commands.Ftrace;

/// <summary>
/// Clear-, Suspend-, Resume- and Remove-TraceHistogram: histograms from Get-/New-TraceHistogram, or every hist
/// trigger of an event in an instance. Each is the trigger's own line with :clear, :pause, :cont, or '!' before it.
/// </summary>
public abstract class HistControlCommandBase : FtraceCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "InputObject")]
    public TraceHistogram[] InputObject { get; set; } = Array.Empty<TraceHistogram>();

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Name")]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance Instance { get; set; } = null!;

    [Parameter(Mandatory = true, Position = 1, ParameterSetName = "Name")]
    [ArgumentCompleter(typeof(TraceEventNameCompleter))]
    public string Event { get; set; } = "";

    /// <summary>clear, pause, cont or remove.</summary>
    protected abstract string Verb { get; }

    protected abstract string Description { get; }

    protected override void ProcessRecord()
    {
        var targets = new List<(FtraceInstance Instance, string System, string Event, string Trigger)>();
        if (ParameterSetName == "InputObject")
        {
            foreach (var h in InputObject)
            {
                if (h.Instance is null || h.System is null || h.Event is null)
                {
                    WriteError(new ErrorRecord(new PSArgumentException("This histogram was read from a file (-Path): it names no instance and event."), "HistNotLive", ErrorCategory.InvalidArgument, h));
                    continue;
                }
                targets.Add((Try(() => FtraceInstance.Get(h.Instance), h.Instance), h.System, h.Event, h.Trigger));
            }
        }
        else
        {
            var (system, ev) = Try(() => NewTraceHistogramCommand.SplitEvent(Event), Event);
            Try(() => HistTriggers.EnsureAvailable(Instance, system, ev), Event);
            var format = Try(() => TraceEventCatalog.GetFormat(system, ev), Event);
            var text = Try(() => ControlFile.ReadText(Instance.FilePath(System.IO.Path.Combine("events", system, ev, "hist"))), Event);
            targets.AddRange(TraceHistogramParser.Parse(text, format).Select(t => (Instance, system, ev, t.Trigger)));
        }
        foreach (var (instance, system, ev, trigger) in targets)
        {
            if (!ShouldProcess($"{system}:{ev} in {instance.Name}", $"{Description} '{trigger}'")) continue;
            try { HistTriggers.Control(instance, system, ev, trigger, Verb); }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, trigger); }
        }
    }
}
