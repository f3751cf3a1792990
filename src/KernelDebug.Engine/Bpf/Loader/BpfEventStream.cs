using System.Diagnostics;
using KernelDebug.Common;

namespace KernelDebug.Bpf;

/// <summary>
/// Streams a map's records to the pipeline thread: a producer thread polls the buffers, decodes each record through
/// BTF and posts it to a BatchingPump (bounded: it waits while the queue is full, and then the kernel side's buffers
/// fill, so perf buffers count lost records and the ring buffer's producers fail to reserve).
/// </summary>
public sealed class BpfEventStream : IDisposable
{
    private readonly BatchingPump<object> _pump = new(512, 16);
    private readonly BpfEventReader _reader;
    private readonly BpfEventDecoder _decoder;
    private Task? _producer;

    public BpfEventStream(BpfObjectMap map, string? typeName, int perfPages = 64)
    {
        _decoder = new BpfEventDecoder(map.Object.Btf, typeName, map.Name);
        _reader = BpfEventReader.Open(map, perfPages);
    }

    public BpfEventReader Reader => _reader;

    /// <summary>Starts the producer: until count records (0: no limit), the duration (null: none), or Cancel.</summary>
    public void Start(long count, TimeSpan? duration)
    {
        var clock = Stopwatch.StartNew();
        _producer = _pump.RunProducer(pump =>
        {
            long n = 0;
            bool stop = false;
            while (!pump.IsCancelled && !stop)
            {
                int remaining = duration is { } d ? (int)Math.Ceiling((d - clock.Elapsed).TotalMilliseconds) : 100;
                if (duration is not null && remaining <= 0) break;
                int got = _reader.Consume((record, cpu) =>
                {
                    if (!pump.Post(_decoder.Decode(record, cpu))) { stop = true; return false; }
                    if (count > 0 && ++n >= count) { stop = true; return false; }
                    return true;
                });
                if (got == 0 && !stop)
                {
                    pump.Flush();
                    _reader.Wait(Math.Clamp(remaining, 1, 100));
                }
            }
        });
    }

    public IEnumerable<object> Drain(Action? between = null) => _pump.Drain(between);

    public void Cancel() => _pump.Cancel();

    public void Dispose()
    {
        _pump.Cancel();
        try { _producer?.Wait(TimeSpan.FromSeconds(2)); } catch (AggregateException) { }
        _pump.Dispose();
        _reader.Dispose();
    }
}
