using System.Text;
using KernelDebug.Native;

namespace KernelDebug.Launch;

/// <summary>Which of the program's streams a captured line came from.</summary>
public enum ProgramStream { StandardOutput = 1, StandardError = 2 }

/// <summary>One line the program wrote (without its line end).</summary>
public readonly record struct ProgramOutputLine(ProgramStream Stream, string Text);

/// <summary>What a capture does when its buffer is full and nobody takes lines.</summary>
public enum CaptureOverflow
{
    /// <summary>Stop reading: the program waits in write() until lines are taken (a cmdlet draining on the pipeline thread).</summary>
    Wait,

    /// <summary>Drop the oldest lines and count them (a recording in the background that nobody may ever drain).</summary>
    DropOldest,
}

/// <summary>
/// Reads a launched program's stdout and stderr pipes on a thread of its own and splits them into lines, in bounded
/// memory. The thread never touches the tracer: a ptrace loop or a ring-buffer reader keeps running while the program
/// writes, and a program that writes more than the buffer holds waits in write() (<see cref="CaptureOverflow.Wait"/>)
/// until the pipeline thread takes lines, as it would with a slow terminal.
/// </summary>
public sealed class OutputCapture : IDisposable
{
    private const int MaxLineChars = 16 * 1024;
    private readonly object _gate = new();
    private readonly Queue<ProgramOutputLine> _lines = new();
    private readonly int _maxBytes;
    private readonly CaptureOverflow _overflow;
    private readonly Action? _dataAvailable;
    private readonly ManualResetEventSlim _ended = new(false);
    private long _bytes, _droppedLines;
    private bool _disposed;
    private Thread? _thread;
    private SafeFileDescriptor? _stdout, _stderr;

    /// <param name="maxBytes">Text held for the pipeline thread at most (the pipes' own 64 KiB each come on top).</param>
    /// <param name="dataAvailable">Called on the reader thread when lines arrive and none were waiting: wake the pipeline thread.</param>
    public OutputCapture(int maxBytes = 1 << 20, CaptureOverflow overflow = CaptureOverflow.Wait, Action? dataAvailable = null)
    {
        _maxBytes = Math.Max(maxBytes, 4096);
        _overflow = overflow;
        _dataAvailable = dataAvailable;
    }

    /// <summary>Lines dropped because the buffer was full (<see cref="CaptureOverflow.DropOldest"/> only).</summary>
    public long DroppedLines => Interlocked.Read(ref _droppedLines);

    /// <summary>True once both pipes reached end of file (the program and every process holding them ended) or the capture was closed.</summary>
    public bool IsCompleted => _ended.IsSet;

    /// <summary>Whether the launcher gave this capture a pipe (false: every stream went to a file).</summary>
    public bool IsStarted => _thread is not null;

    /// <summary>Launcher side: takes the read ends (either may be null) and starts reading.</summary>
    internal void Start(SafeFileDescriptor? stdout, SafeFileDescriptor? stderr)
    {
        if (_thread is not null) throw new InvalidOperationException("An output capture serves one launch.");
        _stdout = stdout;
        _stderr = stderr;
        _thread = new Thread(ReadLoop) { IsBackground = true, Name = "KernelDebug program output" };
        _thread.Start();
    }

    /// <summary>Whether lines wait to be taken.</summary>
    public bool HasLines { get { lock (_gate) return _lines.Count > 0; } }

    /// <summary>Pipeline side: the next line, without waiting.</summary>
    public bool TryTake(out ProgramOutputLine line)
    {
        lock (_gate)
        {
            if (_lines.Count == 0) { line = default; return false; }
            line = _lines.Dequeue();
            _bytes -= Cost(line);
            Monitor.PulseAll(_gate); // a reader waiting for room
            return true;
        }
    }

    /// <summary>Waits until both pipes reach end of file, at most <paramref name="timeout"/> (a daemon the program left may hold them open).</summary>
    public bool WaitForEnd(TimeSpan timeout) => _thread is null || _ended.Wait(timeout);

    private static long Cost(ProgramOutputLine line) => 32 + 2L * line.Text.Length;

    private void Add(ProgramStream stream, string text)
    {
        var line = new ProgramOutputLine(stream, text);
        long cost = Cost(line);
        bool wake;
        lock (_gate)
        {
            while (_bytes > 0 && _bytes + cost > _maxBytes && !_disposed)
            {
                if (_overflow == CaptureOverflow.DropOldest)
                {
                    _bytes -= Cost(_lines.Dequeue());
                    Interlocked.Increment(ref _droppedLines);
                }
                else Monitor.Wait(_gate, 100);
            }
            if (_disposed) return;
            wake = _lines.Count == 0;
            _lines.Enqueue(line);
            _bytes += cost;
        }
        if (wake) _dataAvailable?.Invoke();
    }

    private sealed class Splitter
    {
        private readonly Decoder _decoder = new UTF8Encoding(false, false).GetDecoder();
        private readonly StringBuilder _pending = new();
        private char[] _chars = new char[1024];

        public void Feed(ReadOnlySpan<byte> bytes, bool flush, Action<string> emit)
        {
            int need = _decoder.GetCharCount(bytes, flush);
            if (need > _chars.Length) _chars = new char[need];
            int n = _decoder.GetChars(bytes, _chars, flush);
            int start = 0;
            for (int i = 0; i < n; i++)
            {
                if (_chars[i] != '\n') continue;
                _pending.Append(_chars, start, i - start);
                if (_pending.Length > 0 && _pending[^1] == '\r') _pending.Length--;
                emit(_pending.ToString());
                _pending.Clear();
                start = i + 1;
            }
            _pending.Append(_chars, start, n - start);
            // A line without an end that grows without bound is handed on in pieces.
            while (_pending.Length >= MaxLineChars)
            {
                emit(_pending.ToString(0, MaxLineChars));
                _pending.Remove(0, MaxLineChars);
            }
            if (flush && _pending.Length > 0)
            {
                emit(_pending.ToString());
                _pending.Clear();
            }
        }
    }

    private unsafe void ReadLoop()
    {
        var buffer = new byte[65536];
        var splitters = new[] { new Splitter(), new Splitter() };
        var fds = new[] { _stdout, _stderr };
        var polls = stackalloc Interop.PollFd[2];
        Span<int> which = stackalloc int[2];
        try
        {
            while (!Volatile.Read(ref _disposed))
            {
                int count = 0;
                for (int i = 0; i < 2; i++)
                {
                    if (fds[i] is null) continue;
                    polls[count] = new Interop.PollFd { Fd = fds[i]!.Fd, Events = Interop.POLLIN };
                    which[count++] = i;
                }
                if (count == 0) break;
                int ready = Interop.poll(polls, (nuint)count, 100);
                if (ready <= 0) continue; // timeout or EINTR: look at the disposed flag again
                for (int k = 0; k < count; k++)
                {
                    if (polls[k].Revents == 0) continue;
                    int i = which[k];
                    var stream = i == 0 ? ProgramStream.StandardOutput : ProgramStream.StandardError;
                    int n;
                    try { n = Interop.Read(fds[i]!, buffer, "program output"); }
                    catch (KernelDebugException) { n = 0; }
                    splitters[i].Feed(buffer.AsSpan(0, Math.Max(n, 0)), n <= 0, t => Add(stream, t));
                    if (n <= 0)
                    {
                        fds[i]!.Dispose();
                        fds[i] = null;
                    }
                }
            }
        }
        finally
        {
            foreach (var fd in fds) fd?.Dispose();
            _ended.Set();
        }
    }

    /// <summary>Stops reading and closes the pipes; lines not taken are dropped. A program still writing gets EPIPE.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            Monitor.PulseAll(_gate);
        }
        if (_thread is not null && _thread != Thread.CurrentThread) _thread.Join(TimeSpan.FromSeconds(5));
        else
        {
            _stdout?.Dispose();
            _stderr?.Dispose();
        }
        _ended.Set();
    }
}
