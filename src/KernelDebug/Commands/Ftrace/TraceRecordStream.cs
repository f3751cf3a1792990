using System.Management.Automation;
using KernelDebug.Common;
using KernelDebug.Ftrace;

namespace KernelDebug.Commands.Ftrace;

/// <summary>
/// A reader on a producer thread and the pipeline thread draining its PipelinePump (bounded memory). Records become
/// PSObjects with note properties on the producer thread, so the pipeline thread only writes them.
/// Dispose cancels the producer, waits for it and closes the per-CPU files.
/// </summary>
internal sealed class TraceRecordStream : IDisposable
{
    private readonly PipelinePump<PSObject> _pump = new(4096);
    private Task? _producer;

    public TraceRecordStream(FtraceInstance instance) => Reader = new TraceStreamReader(instance);

    public TraceStreamReader Reader { get; }

    /// <summary>Starts reading with these end conditions; <paramref name="stopWhen"/> ends it after one more drain.</summary>
    public void Start(TraceReadOptions options, Func<bool>? stopWhen = null)
    {
        _producer = _pump.RunProducer(pump =>
        {
            if (stopWhen is null)
            {
                Reader.Run(r => pump.Post(r.ToPSObject()), options, pump.Token);
                return;
            }
            while (!pump.IsCancelled)
            {
                bool last = stopWhen();
                foreach (var r in Reader.ReadAvailable())
                    if (!pump.Post(r.ToPSObject())) return;
                if (last) return;
                Reader.Wait(options.PollMilliseconds);
            }
        });
    }

    public IEnumerable<PSObject> Drain() => _pump.Drain();

    public void Cancel() => _pump.Cancel();

    /// <summary>A warning sentence when the kernel lost events, else null.</summary>
    public string? LostEventsWarning()
    {
        var (overrun, dropped) = Reader.ReadStats();
        long lost = Reader.LostEvents;
        long unknown = Reader.LostEventPagesWithoutCount;
        if (lost == 0 && unknown == 0 && overrun == 0 && dropped == 0) return null;
        return $"The kernel lost events while this stream ran: {lost} reported missing in page headers" +
               (unknown > 0 ? $" (+{unknown} pages with an unknown count)" : "") +
               $", {overrun} overwritten (overrun), {dropped} dropped. Read faster (fewer events, a -Filter) or use a larger buffer (New-FtraceInstance -BufferSizeKb).";
    }

    public void Dispose()
    {
        _pump.Cancel();
        try { _producer?.Wait(TimeSpan.FromSeconds(10)); }
        catch (AggregateException) { /* the producer's error was already delivered through Drain */ }
        Reader.Dispose();
        _pump.Dispose();
    }
}
