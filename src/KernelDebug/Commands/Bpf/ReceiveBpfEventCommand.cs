using System.Management.Automation;
using KernelDebug.Bpf;
using KernelDebug.Native;

namespace KernelDebug.Commands;

/// <summary>
/// Streams the records a loaded object's programs write to a ring buffer or perf event array map, decoded through
/// the object's BTF, until -Count, -Duration or Ctrl+C. Lost records are reported as a warning with their count.
/// </summary>
[Cmdlet(VerbsCommunications.Receive, "BpfEvent")]
[OutputType(typeof(PSObject), typeof(BpfRawEvent))]
public sealed class ReceiveBpfEventCommand : PSCmdlet, IDisposable
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    public BpfObject Object { get; set; } = null!;

    /// <summary>The ringbuf or perf_event_array map; the object's only one when omitted.</summary>
    [Parameter(Position = 1)]
    public string? Map { get; set; }

    /// <summary>The BTF struct the records are (e.g. event); by default the one struct of the record's size.</summary>
    [Parameter]
    public string? Type { get; set; }

    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long Count { get; set; }

    [Parameter]
    public TimeSpan? Duration { get; set; }

    private readonly BpfEventSession _session = new();

    protected override void ProcessRecord()
    {
        try { _session.Run(this, Object, Map, Type, Count, Duration); }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, Map ?? Object.Name); }
    }

    protected override void StopProcessing() => _session.Cancel();

    public void Dispose() => _session.Cancel();
}

/// <summary>The streaming shared by Receive-BpfEvent and Invoke-BpfObject.</summary>
internal sealed class BpfEventSession
{
    private volatile BpfEventStream? _stream;
    private volatile bool _cancelled;

    public void Cancel()
    {
        _cancelled = true;
        _stream?.Cancel();
    }

    public static BpfObjectMap EventMap(BpfObject obj, string? name)
    {
        if (name is not null) return obj.Map(name);
        var maps = obj.Maps.Where(m => m.Type is "ringbuf" or "perf_event_array").ToList();
        // A program that writes to one of a ringbuf and a perf array picks it at run time (kd_events' use_perf): prefer the ringbuf.
        var ring = maps.Where(m => m.Type == "ringbuf").ToList();
        if (ring.Count == 1) return ring[0];
        if (maps.Count == 1) return maps[0];
        throw new KernelDebugException(maps.Count == 0 ? $"Object '{obj.Name}' has no ringbuf or perf_event_array map to receive events from."
            : $"Object '{obj.Name}' has several event maps ({string.Join(", ", maps.Select(m => m.Name))}); say which with -Map.",
            maps.Count == 0 ? "BpfEventMapNotFound" : "BpfEventMapAmbiguous", ErrorCategory.InvalidArgument) { Target = obj.Name };
    }

    public void Run(PSCmdlet cmdlet, BpfObject obj, string? mapName, string? type, long count, TimeSpan? duration)
    {
        if (_cancelled) return;
        var map = EventMap(obj, mapName);
        using var stream = new BpfEventStream(map, type);
        _stream = stream;
        if (_cancelled) return;
        stream.Start(count, duration);
        long lostReported = 0;
        try
        {
            foreach (var record in stream.Drain())
            {
                cmdlet.WriteObject(record);
                long lost = stream.Reader.Lost;
                if (lost > lostReported)
                {
                    cmdlet.WriteWarning($"{lost - lostReported} record(s) of map '{map.Name}' lost (the perf buffer was full); {lost} so far.");
                    lostReported = lost;
                }
            }
        }
        finally
        {
            _stream = null;
            var r = stream.Reader;
            if (r.Lost > lostReported) cmdlet.WriteWarning($"{r.Lost - lostReported} record(s) of map '{map.Name}' lost (the perf buffer was full); {r.Lost} in all.");
            cmdlet.WriteVerbose($"Map '{map.Name}': {r.Received} record(s) received, {r.Lost} lost, {r.Discarded} discarded by the program.");
        }
    }
}
