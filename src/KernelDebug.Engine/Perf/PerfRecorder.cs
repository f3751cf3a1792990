namespace KernelDebug.Perf;

/// <summary>Placeholder filled in by the recorder step.</summary>
public sealed class PerfRecorder
{
    public PerfRecordingState State { get; internal set; }
    public long Samples { get; internal set; }
    public ulong Lost { get; internal set; }
    public int CommandProcessId { get; internal set; }
    public int? ExitCode { get; internal set; }
    public Exception? Error { get; internal set; }
    public DateTime? EndTime { get; internal set; }
}
