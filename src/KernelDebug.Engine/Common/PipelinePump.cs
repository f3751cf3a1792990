using System.Collections.Concurrent;

namespace KernelDebug.Common;

/// <summary>
/// Hands items from a producer thread to the pipeline thread in bounded memory (the PSEtw pattern): the producer
/// blocks when the queue is full, the cmdlet drains it on its own thread, and StopProcessing cancels both sides.
/// </summary>
public sealed class PipelinePump<T> : IDisposable
{
    private readonly BlockingCollection<T> _queue;
    private readonly CancellationTokenSource _cts = new();
    private Exception? _error;

    public PipelinePump(int capacity = 4096) => _queue = new BlockingCollection<T>(capacity);

    public CancellationToken Token => _cts.Token;

    public bool IsCancelled => _cts.IsCancellationRequested;

    /// <summary>Producer side: adds an item, waiting while the queue is full. False once cancelled.</summary>
    public bool Post(T item)
    {
        try { _queue.Add(item, _cts.Token); return true; }
        catch (OperationCanceledException) { return false; }
        catch (InvalidOperationException) { return false; } // completed
    }

    /// <summary>Producer side: no more items; an error is rethrown on the pipeline thread after the queued items.</summary>
    public void Complete(Exception? error = null)
    {
        _error ??= error;
        try { _queue.CompleteAdding(); } catch (ObjectDisposedException) { }
    }

    /// <summary>Starts the producer on a thread-pool thread; its exception completes the pump with that error.</summary>
    public Task RunProducer(Action<PipelinePump<T>> produce) => Task.Run(() =>
    {
        try { produce(this); Complete(); }
        catch (OperationCanceledException) { Complete(); }
        catch (Exception e) { Complete(e); }
    });

    /// <summary>Pipeline side: yields items until the producer completes or the pump is cancelled.</summary>
    public IEnumerable<T> Drain()
    {
        while (true)
        {
            T item;
            try
            {
                if (!_queue.TryTake(out item!, Timeout.Infinite, _cts.Token)) break;
            }
            catch (OperationCanceledException) { yield break; }
            yield return item;
        }
        if (_error is not null && !_cts.IsCancellationRequested)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(_error).Throw();
    }

    /// <summary>From StopProcessing (Ctrl+C, Select-Object -First): ends Drain and makes Post return false.</summary>
    public void Cancel()
    {
        try { _cts.Cancel(); } catch (ObjectDisposedException) { }
    }

    public void Dispose()
    {
        Cancel();
        _queue.Dispose();
        _cts.Dispose();
    }
}
