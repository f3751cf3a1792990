namespace KernelDebug
{
    public enum PerfRecordingState { Running, Completed, Stopped, Failed }

    /// <summary>A perf record session: its file, state and counts. Samples and Lost grow while it runs.</summary>
    public sealed class PerfRecording
    {
        private readonly Perf.PerfRecorder? _recorder;

        internal PerfRecording(int id, string path, DateTime startTime, Perf.PerfRecorder? recorder)
        {
            Id = id; Path = path; StartTime = startTime; _recorder = recorder;
        }

        public int Id { get; }
        public string Path { get; }
        public DateTime StartTime { get; }
        public PerfRecordingState State => _recorder?.State ?? PerfRecordingState.Completed;
        public long Samples => _recorder?.Samples ?? 0;
        public ulong Lost => _recorder?.Lost ?? 0;
        /// <summary>The recorded command's process id (0 for -ProcessId and -SystemWide).</summary>
        public int ProcessId => _recorder?.CommandProcessId ?? 0;
        /// <summary>The command's exit code once it ended.</summary>
        public int? ExitCode => _recorder?.ExitCode;
        /// <summary>Why the recording failed, when State is Failed.</summary>
        public string? Error => _recorder?.Error?.Message;
        public DateTime? EndTime => _recorder?.EndTime;

        internal Perf.PerfRecorder? Recorder => _recorder;

        public override string ToString() => $"{Id} {State} {Samples} samples -> {Path}";
    }
}
