using System.Management.Automation;
using KernelDebug.Common;
using KernelDebug.Ftrace;

namespace KernelDebug.Commands.Ftrace;

/// <summary>
/// A reader on a producer thread and the pipeline thread draining its BatchingPump (bounded memory): records go over a
/// batch at a time, and a partial batch as soon as the buffers run dry. Records are written as they are:
/// TraceRecordAdapter makes their fields properties without a PSObject per record.
/// Dispose cancels the producer, waits for it and closes the per-CPU files.
/// </summary>
internal sealed class TraceRecordStream : IDisposable
{
    // At most QueuedBatches * BatchSize records wait for the pipeline (plus the batch being filled). Few enough that
    // they die young: with thousands queued, most gen0 collections became gen1 ones (the kernel buffer is the backlog).
    private const int BatchSize = 256, QueuedBatches = 8;
    private readonly BatchingPump<TraceRecord> _pump = new(BatchSize, QueuedBatches);
    private Task? _producer;

    public TraceRecordStream(FtraceInstance instance)
    {
        _instance = instance;
        // The text trace_pipe only where the kernel has no per-CPU binary pipe.
        if (File.Exists(instance.FilePath("per_cpu/cpu0/trace_pipe_raw"))) Reader = new TraceStreamReader(instance);
        else _text = TraceTextParser.ForInstance(instance);
    }

    private readonly FtraceInstance _instance;
    private readonly TraceTextParser? _text;

    /// <summary>The binary reader; null on the text fallback.</summary>
    public TraceStreamReader? Reader { get; }

    public bool IsTextFallback => _text is not null;

    /// <summary>Starts reading with these end conditions; <paramref name="stopWhen"/> ends it after one more drain.</summary>
    public void Start(TraceReadOptions options, Func<bool>? stopWhen = null)
    {
        _producer = _pump.RunProducer(pump =>
        {
            if (_text is not null)
            {
                // The text pipe blocks between lines: hand each record on at once.
                bool single(TraceRecord r) => pump.Post(r) && pump.Flush();
                if (stopWhen is null) { TraceTextParser.ReadPipe(_instance, _text, single, options, pump.Token); return; }
                var drain = new TraceReadOptions { NoWait = true };
                while (!pump.IsCancelled)
                {
                    bool final = stopWhen();
                    TraceTextParser.ReadPipe(_instance, _text, single, drain, pump.Token);
                    if (final) return;
                    Thread.Sleep(options.PollMilliseconds);
                }
                return;
            }
            var reader = Reader!;
            if (stopWhen is null)
            {
                reader.Run(pump.Post, options, pump.Token, () => pump.Flush());
                pump.Flush();
                return;
            }
            if (!pump.IsCancelled) reader.RunUntil(pump.Post, stopWhen, options.PollMilliseconds, pump.Flush);
        });
    }

    /// <summary>The records in order, on the pipeline thread; ends early once cancelled.</summary>
    public IEnumerable<TraceRecord> Drain(Action? between = null) => _pump.Drain(between);

    /// <summary>Makes Drain run its between action soon (see BatchingPump.Wake).</summary>
    public void Wake() => _pump.Wake();

    public void Cancel() => _pump.Cancel();

    /// <summary>
    /// A warning sentence when the kernel lost events while this stream ran, else null. The figures are the per-CPU
    /// overrun and dropped counters now less what they were when the stream opened: the page headers' missed-events
    /// counts are not used, as the first page read carries the losses since the previous reader, before this stream.
    /// </summary>
    public string? LostEventsWarning()
    {
        if (Reader is null) return null;
        var (overrun, dropped) = Reader.ReadStats();
        if (overrun == 0 && dropped == 0) return null;
        return $"The kernel lost {overrun + dropped} events of {_instance.Name} while this stream ran: {overrun} overwritten before they were read (overrun) and {dropped} dropped. " +
               "Read faster (fewer events, a -Filter) or use a larger buffer (New-FtraceInstance -BufferSizeKb).";
    }

    /// <summary>
    /// For a shared instance: a warning when records were read from its buffer (which consumes them, as any
    /// trace_pipe reader does) but not output because the stream stopped first (-Count, Select-Object -First);
    /// null when none were. Reading works a page at a time, so up to a page per CPU can be left over.
    /// </summary>
    public string? ConsumedWarning(long emitted, string why)
    {
        if (Reader is null) return null;
        // The reader must be still before counting: a producer still reading would consume pages nobody counts.
        StopProducer();
        long dropped = Reader.RecordsRead - emitted;
        if (dropped <= 0) return null;
        return $"{dropped} records were read from the buffer of {_instance.Name} (reading consumes them) but not output, because the stream stopped at {why}: they are gone from that buffer for other readers too. " +
               "Record in a private instance (Receive-TraceEvent -Event) to keep other readers' records whole.";
    }

    private void StopProducer()
    {
        _pump.Cancel();
        try { _producer?.Wait(TimeSpan.FromSeconds(10)); }
        catch (AggregateException) { /* the producer's error was already delivered through Drain */ }
    }

    public void Dispose()
    {
        StopProducer();
        Reader?.Dispose();
        _pump.Dispose();
    }
}
