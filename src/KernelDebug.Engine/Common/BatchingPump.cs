namespace KernelDebug.Common;

/// <summary>
/// A producer thread's hand-off of many small records to the pipeline thread, a batch at a time (the syscall tracer,
/// the trace ring-buffer reader). One BlockingCollection operation per record cost about 2 µs of the producer's time
/// per record (the two threads woke each other per event); here the pipeline thread is woken once per full batch, or
/// once when records arrive while it is idle, and then waits up to <see cref="FlushInterval"/> for the batch to fill,
/// so a record is never held back longer than that when the producer goes quiet; a producer that knows it ran dry
/// hands the partial batch on at once with <see cref="Flush"/>. Bounded memory: the producer waits while
/// <c>maxBatches</c> full batches are queued.
/// Same contract as PipelinePump: Post returns false once cancelled, Drain rethrows the producer's error after its records.
/// </summary>
public sealed class BatchingPump<T> : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private readonly object _gate = new();
    private readonly Queue<List<T>> _full = new();
    private readonly int _batchSize, _maxBatches;
    private List<T> _filling;
    private bool _completed, _cancelled, _consumerIdle, _wakeRequested;
    private Exception? _error;

    public BatchingPump(int batchSize = 256, int maxBatches = 8)
    {
        _batchSize = batchSize;
        _maxBatches = maxBatches;
        _filling = new List<T>(batchSize);
    }

    public static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(20);

    /// <summary>How long an idle Drain with a <c>between</c> action waits before it hands back an empty batch (progress on quiet streams).</summary>
    public static readonly TimeSpan TickInterval = TimeSpan.FromMilliseconds(250);

    private static readonly List<T> NoRecords = new(0);

    public bool IsCancelled => Volatile.Read(ref _cancelled);

    /// <summary>Cancelled with the pump: for the producer's own waits (poll, read).</summary>
    public CancellationToken Token => _cts.Token;

    /// <summary>Producer side: adds a record, waiting while the queue is full. False once cancelled.</summary>
    public bool Post(T item)
    {
        lock (_gate)
        {
            if (_cancelled || _completed) return false;
            _filling.Add(item);
            if (_filling.Count == 1 && _consumerIdle) Monitor.PulseAll(_gate);
            return _filling.Count < _batchSize || QueueFilling();
        }
    }

    /// <summary>Producer side: hands on the records posted so far without waiting for the batch to fill. False once cancelled.</summary>
    public bool Flush()
    {
        lock (_gate)
        {
            if (_cancelled || _completed) return false;
            return _filling.Count == 0 || QueueFilling();
        }
    }

    // Under _gate: queues the batch being filled, waiting for room.
    private bool QueueFilling()
    {
        while (_full.Count >= _maxBatches && !_cancelled) Monitor.Wait(_gate);
        if (_cancelled) return false;
        _full.Enqueue(_filling);
        _filling = new List<T>(_batchSize);
        Monitor.PulseAll(_gate);
        return true;
    }

    /// <summary>Starts the producer on a thread-pool thread; its exception completes the pump with that error.</summary>
    public Task RunProducer(Action<BatchingPump<T>> produce) => Task.Run(() =>
    {
        try { produce(this); Complete(); }
        catch (OperationCanceledException) { Complete(); }
        catch (Exception e) { Complete(e); }
    });

    /// <summary>Producer side: no more records; an error is rethrown on the pipeline thread after the queued records.</summary>
    public void Complete(Exception? error = null)
    {
        lock (_gate)
        {
            _error ??= error;
            _completed = true;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>From StopProcessing (Ctrl+C, Select-Object -First): ends Drain and makes Post return false.</summary>
    public void Cancel()
    {
        lock (_gate)
        {
            _cancelled = true;
            Monitor.PulseAll(_gate);
        }
        try { _cts.Cancel(); } catch (ObjectDisposedException) { }
    }

    public void Dispose()
    {
        Cancel();
        _cts.Dispose();
    }

    /// <summary>From any thread: makes Drain run its <c>between</c> action soon even when no record comes (other work for the pipeline thread).</summary>
    public void Wake()
    {
        lock (_gate)
        {
            _wakeRequested = true;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>
    /// Pipeline side: the records in order until the producer completes or the pump is cancelled. <paramref name="between"/>
    /// runs on the pipeline thread after each batch, after each <see cref="Wake"/>, and at least every
    /// <see cref="TickInterval"/> while no records come.
    /// </summary>
    public IEnumerable<T> Drain(Action? between = null)
    {
        while (TakeBatch(between is not null) is { } batch)
        {
            foreach (var item in batch)
            {
                if (IsCancelled) yield break;
                yield return item;
            }
            between?.Invoke();
        }
        if (_error is not null && !IsCancelled)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(_error).Throw();
    }

    /// <summary>The next full batch, else the partial one once it waited FlushInterval (or the producer is done); null at the end.</summary>
    private List<T>? TakeBatch(bool ticking)
    {
        lock (_gate)
        {
            bool waitedForPartial = false;
            while (!_cancelled)
            {
                if (_full.Count > 0)
                {
                    var batch = _full.Dequeue();
                    Monitor.PulseAll(_gate); // a producer waiting for room
                    return batch;
                }
                if (_filling.Count > 0 && (waitedForPartial || _completed))
                {
                    var batch = _filling;
                    _filling = new List<T>(_batchSize);
                    return batch;
                }
                if (_completed) return null;
                if (_wakeRequested)
                {
                    _wakeRequested = false;
                    return NoRecords;
                }
                if (_filling.Count > 0)
                {
                    Monitor.Wait(_gate, FlushInterval);
                    waitedForPartial = true;
                }
                else
                {
                    _consumerIdle = true;
                    bool woken = ticking ? Monitor.Wait(_gate, TickInterval) : Monitor.Wait(_gate);
                    _consumerIdle = false;
                    if (!woken) return NoRecords;
                }
            }
            return null;
        }
    }
}
