using System.Management.Automation;
using KernelDebug.Ftrace;

namespace KernelDebug.Commands.Ftrace;

/// <summary>
/// Streams decoded trace records from an instance's binary ring buffer (per-CPU trace_pipe_raw), merged across CPUs
/// in time order, until Ctrl+C, -Count, -Duration or (-NoWait) the end of the data. With -Event it records into a
/// private instance made for the call and removed after it.
/// </summary>
[Cmdlet(VerbsCommunications.Receive, "TraceEvent", DefaultParameterSetName = "Instance")]
[OutputType(typeof(TraceRecord))]
public sealed class ReceiveTraceEventCommand : FtraceCmdlet, IDisposable
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "Instance")]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance Instance { get; set; } = null!;

    /// <summary>Events to record in a private instance ('system:event' globs).</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Event")]
    [ArgumentCompleter(typeof(TraceEventNameCompleter))]
    [SupportsWildcards]
    public string[] Event { get; set; } = Array.Empty<string>();

    [Parameter(ParameterSetName = "Event")]
    public string? Filter { get; set; }

    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long Count { get; set; }

    [Parameter]
    public TimeSpan Duration { get; set; }

    [Parameter]
    public SwitchParameter NoWait { get; set; }

    private TraceRecordStream? _stream;
    private PrivateInstance? _private;
    private InstanceLock? _lock;
    private bool _stopping;

    protected override void BeginProcessing()
    {
        TraceRecordTypeData.Ensure(this);
        this.SweepOrphans();
    }

    protected override void ProcessRecord()
    {
        try
        {
            var instance = Instance;
            if (ParameterSetName == "Event")
            {
                var events = MatchEvents(Event);
                if (events.Count == 0) return;
                _private = Try(() => new PrivateInstance());
                instance = _private.Instance;
                // mono maps onto wall-clock time, so records get a DateTime.
                Try(() => instance.SetClock("mono"));
                Try(() => instance.EnableEvents(events, Filter), Filter);
                WriteVerbose($"Recording {events.Count} event(s) in private instance {instance.Name}.");
            }
            // Two readers of one buffer would split its records between them: one session at a time.
            else _lock = Try(() => InstanceLock.Acquire(instance, WriteVerbose), instance.Name);
            _stream = Try(() => new TraceRecordStream(instance));
            if (_stream.IsTextFallback) WriteVerbose("This kernel has no per-CPU trace_pipe_raw: reading the text trace_pipe instead (microsecond timestamps, fields as printed).");
            _stream.Start(new TraceReadOptions
            {
                Count = Count > 0 ? Count : null,
                Duration = MyInvocation.BoundParameters.ContainsKey(nameof(Duration)) ? Duration : null,
                NoWait = NoWait,
            });
            // A -Duration stream shows how far through it is.
            var progress = Duration > TimeSpan.Zero ? new CmdletProgress(this, "Receive-TraceEvent") : null;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            long seen = 0;
            Action? tick = progress is null ? null : () =>
                progress.ReportTime(clock.Elapsed, Duration, () => $"{seen} records from {instance.Name}, {clock.Elapsed.TotalSeconds:F0} of {Duration.TotalSeconds:F0} s");
            try
            {
                foreach (var record in _stream.Drain(tick)) { seen++; WriteObject(record); }
            }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e, instance); }
            catch (PipelineStoppedException) when (!_stopping && _private is null)
            {
                // A downstream command ended the pipeline (Select-Object -First): what was read and not output is gone
                // from the shared buffer; say so while the warning can still be written.
                try { if (_stream.ConsumedWarning(seen, "a downstream command's end (Select-Object -First)") is { } consumed) WriteWarning(consumed); }
                catch (PipelineStoppedException) { }
                throw;
            }
            finally { progress?.Complete(); }
            if (!_stopping && _stream.LostEventsWarning() is { } warning) WriteWarning(warning);
            // In a private instance nobody else reads the buffer: records read past -Count are nobody's loss.
            if (!_stopping && _private is null && Count > 0 && _stream.ConsumedWarning(seen, $"-Count {Count}") is { } dropped) WriteWarning(dropped);
        }
        finally
        {
            Cleanup();
        }
    }

    protected override void StopProcessing()
    {
        _stopping = true;
        _stream?.Cancel();
    }

    private void Cleanup()
    {
        _stream?.Dispose();
        _stream = null;
        _private?.Dispose();
        _private = null;
        _lock?.Dispose();
        _lock = null;
    }

    public void Dispose() => Cleanup();
}
