using KernelDebug.Native;

namespace KernelDebug.Memory;

/// <summary>
/// Reads /dev/kmsg. Each read() returns exactly one record; EAGAIN (O_NONBLOCK) marks the end of what is logged so far;
/// EPIPE means the reader fell behind and records were overwritten: the next read continues with the oldest one left.
/// </summary>
public sealed class KernelLogReader : IDisposable
{
    public const string DevicePath = "/dev/kmsg";

    // CONSOLE_EXT_LOG_MAX is 8192: a record never exceeds it, and a smaller buffer makes read() fail with EINVAL.
    private const int RecordBufferSize = 16384;

    private readonly SafeFileDescriptor _fd;
    private readonly byte[] _buffer = new byte[RecordBufferSize];
    private readonly DateTime _bootTimeUtc;
    private readonly string _path;

    public KernelLogReader(string path = DevicePath)
    {
        _path = path;
        var fd = Interop.TryOpen(path, Interop.O_RDONLY | Interop.O_NONBLOCK, out int errno);
        if (fd is null)
        {
            var restrict = Host.ControlFile.TryReadText("/proc/sys/kernel/dmesg_restrict", out _)?.Trim();
            throw new KernelDebugException(errno, "open", path, "KernelLogOpenFailed")
            {
                Remedy = errno is Errno.EPERM or Errno.EACCES
                    ? $"Reading the kernel log needs CAP_SYSLOG when kernel.dmesg_restrict is 1 (it is {restrict ?? "unknown"}): run pwsh as root, or sysctl kernel.dmesg_restrict=0."
                    : errno == Errno.ENOENT ? "Create the device: mknod /dev/kmsg c 1 11." : null,
            };
        }
        _fd = fd;
        _bootTimeUtc = BootClock.BootTimeUtc();
    }

    public DateTime BootTimeUtc => _bootTimeUtc;

    /// <summary>Records lost to overwriting since the last call (EPIPE count); reset when read.</summary>
    public int TakeLostCount() { int n = _lost; _lost = 0; return n; }
    private int _lost;

    /// <summary>The next record, or null when none is waiting. EPIPE is counted (TakeLostCount) and skipped.</summary>
    public unsafe KernelLogEntry? ReadNext()
    {
        while (true)
        {
            int errno = Interop.TryRead(_fd, _buffer.AsSpan(0, RecordBufferSize), out int n);
            if (errno != 0)
            {
                if (errno == Errno.EAGAIN) return null;
                if (errno == Errno.EPIPE) { _lost++; continue; }
                throw new KernelDebugException(errno, "read", _path, "KernelLogReadFailed");
            }
            if (n == 0) return null;
            var entry = KmsgRecord.Parse(_buffer.AsSpan(0, (int)n), _bootTimeUtc);
            if (entry is not null) return entry;
        }
    }

    /// <summary>Waits until a record can be read or the timeout passes; false on timeout.</summary>
    public unsafe bool WaitReadable(int timeoutMilliseconds)
    {
        var pfd = new Interop.PollFd { Fd = _fd.Fd, Events = Interop.POLLIN };
        int error, ready;
        bool added = false;
        _fd.DangerousAddRef(ref added);
        try { error = Interop.TryPoll(&pfd, 1, timeoutMilliseconds, out ready); }
        finally { if (added) _fd.DangerousRelease(); }
        if (error != 0) throw new KernelDebugException(error, "poll", _path);
        return ready > 0;
    }

    /// <summary>
    /// The -Follow producer: posts every record (KernelLogEntry) and a warning (string) for each overwrite, then waits
    /// for new records in 200 ms polls until the pump is cancelled.
    /// </summary>
    public void Follow(Common.PipelinePump<object> pump)
    {
        while (!pump.IsCancelled)
        {
            var entry = ReadNext();
            int lost = TakeLostCount();
            if (lost > 0 && !pump.Post(LostRecordsMessage(lost))) return;
            if (entry is not null) { if (!pump.Post(entry)) return; continue; }
            WaitReadable(200);
        }
    }

    public static string LostRecordsMessage(int n) =>
        $"The kernel log overwrote records before they were read (read() returned EPIPE {n} time(s)); reading continues with the oldest record left.";

    public void Dispose() => _fd.Dispose();
}
