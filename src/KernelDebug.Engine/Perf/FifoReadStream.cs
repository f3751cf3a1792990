using KernelDebug.Native;

namespace KernelDebug.Perf;

/// <summary>
/// A FIFO read as perf report -i fifo reads it (waiting for a writer, then to its end), but stoppable: opened
/// O_NONBLOCK so the open never waits for a partner, and every wait is a short poll that checks the token, so a
/// stopped pipeline (Ctrl+C) ends the read instead of leaving a thread blocked in open(2) or read(2).
/// </summary>
internal sealed class FifoReadStream : Stream
{
    private readonly SafeFileDescriptor _fd;
    private readonly string _path;
    private readonly CancellationToken _cancel;

    public FifoReadStream(string path, CancellationToken cancel)
    {
        _path = path;
        _cancel = cancel;
        _fd = Interop.TryOpen(path, Interop.O_RDONLY | Interop.O_NONBLOCK, out int errno)
              ?? throw new KernelDebugException(errno, "open", path);
    }

    public override unsafe int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        while (true)
        {
            int errno = Interop.TryRead(_fd, buffer, out int n);
            if (errno == 0 && n > 0) return n;
            if (errno != 0 && errno != Errno.EAGAIN) throw new KernelDebugException(errno, "read", _path);
            // 0 bytes: no writer yet (or it left); EAGAIN: a writer with nothing written yet. Wait for data or its end.
            var p = new Interop.PollFd { Fd = _fd.Fd, Events = Interop.POLLIN };
            errno = Interop.TryPoll(&p, 1, 200, out int ready);
            if (errno != 0) throw new KernelDebugException(errno, "poll", _path);
            // Hung up with nothing left to read: a writer came and went, the stream's end.
            if (ready > 0 && (p.Revents & Interop.POLLIN) == 0 && (p.Revents & Interop.POLLHUP) != 0) return 0;
            _cancel.ThrowIfCancellationRequested();
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _fd.Dispose();
        base.Dispose(disposing);
    }
}
