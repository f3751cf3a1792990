using System.Diagnostics;
using KernelDebug.Common;
using KernelDebug.Native;

namespace KernelDebug.Bpf;

/// <summary>
/// Runs a tracing front end (bpftrace, stap) with an argv and no shell, streams its stdout lines through a parser into
/// a PipelinePump, keeps its stderr lines (bounded), ends it with SIGINT after a duration or on request so it prints
/// its final output, and kills it if it does not end.
/// </summary>
public sealed class ToolProcess : IDisposable
{
    private const int MaxStderrLines = 2000;
    private readonly Process _process;
    private readonly List<string> _stderr = new();
    private int _interrupted;

    public ToolProcess(string program, IEnumerable<string> arguments)
    {
        // The tool dies with this process, even a SIGKILLed one, so its probes do not stay attached: setpriv sets
        // PR_SET_PDEATHSIG and execs it (same pid). Process.Start cannot run code in the child before exec.
        var argList = arguments.ToArray();
        var wrapper = DeathSignalWrapper.Value;
        var psi = new ProcessStartInfo(wrapper ?? program)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        if (wrapper is not null) foreach (var a in new[] { "--pdeathsig", "KILL", "--", program }) psi.ArgumentList.Add(a);
        foreach (var a in argList) psi.ArgumentList.Add(a);
        Program = program;
        Arguments = argList;
        _process = new Process { StartInfo = psi };
    }

    /// <summary>setpriv when it has --pdeathsig (util-linux 2.33 and later), else null (the tool then outlives a killed session).</summary>
    private static readonly Lazy<string?> DeathSignalWrapper = new(() =>
    {
        foreach (var p in new[] { "/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv" })
        {
            if (!File.Exists(p)) continue;
            try
            {
                var psi = new ProcessStartInfo(p, "--help") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                using var help = Process.Start(psi)!;
                var text = help.StandardOutput.ReadToEnd();
                help.WaitForExit(5000);
                return text.Contains("--pdeathsig", StringComparison.Ordinal) ? p : null;
            }
            catch (System.ComponentModel.Win32Exception) { return null; }
        }
        return null;
    });

    public string Program { get; }
    public IReadOnlyList<string> Arguments { get; }
    public int? ExitCode { get; private set; }
    public bool WasInterrupted => _interrupted != 0;
    public int ProcessId => _process.Id;

    public IReadOnlyList<string> StandardError { get { lock (_stderr) return _stderr.ToArray(); } }

    /// <summary>How many stderr lines had arrived when the tool said it was ready (-1: it never did). A command the tool
    /// starts after that shares its stderr, so later lines may be the command's.</summary>
    public int StandardErrorLinesWhenReady { get; private set; } = -1;

    /// <summary>
    /// Producer side: starts the program and posts what parse makes of each stdout line until it exits. The duration
    /// starts when isReady first says a line shows the probes attached (at once when isReady is null).
    /// </summary>
    public void Run(PipelinePump<object> pump, Func<string, IEnumerable<object>> parse, TimeSpan? duration, Func<string, bool>? isReady = null)
    {
        _process.Start();
        _process.StandardInput.Close();
        var errTask = Task.Run(() =>
        {
            while (_process.StandardError.ReadLine() is { } l)
                lock (_stderr) if (_stderr.Count < MaxStderrLines) _stderr.Add(l);
        });
        using var timer = duration is { } d ? new Timer(_ => Interrupt()) : null;
        if (isReady is null) timer?.Change(duration!.Value, Timeout.InfiniteTimeSpan);
        bool armed = isReady is null;
        if (armed) StandardErrorLinesWhenReady = 0;
        using var cancel = pump.Token.Register(() => Stop(TimeSpan.FromSeconds(5)));
        while (_process.StandardOutput.ReadLine() is { } line)
        {
            if (!armed && isReady!(line))
            {
                armed = true;
                lock (_stderr) StandardErrorLinesWhenReady = _stderr.Count;
                timer?.Change(duration!.Value, Timeout.InfiniteTimeSpan);
            }
            foreach (var o in parse(line))
                if (!pump.Post(o)) break;
        }
        _process.WaitForExit();
        errTask.Wait(TimeSpan.FromSeconds(5));
        ExitCode = _process.ExitCode;
    }

    private Timer? _repeat;

    /// <summary>
    /// SIGINT: bpftrace and stap end their run and print their maps and end probes. Sent again every second until the
    /// process ends: a SIGINT that lands before bpftrace blocks in epoll_wait only sets its flag and would not wake it.
    /// </summary>
    public void Interrupt()
    {
        if (Interlocked.Exchange(ref _interrupted, 1) == 0)
            _repeat = new Timer(_ => Signal(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        Signal();
    }

    private void Signal()
    {
        try { if (!_process.HasExited) Interop.kill(_process.Id, Interop.SIGINT); else _repeat?.Dispose(); }
        catch (InvalidOperationException) { }
    }

    /// <summary>Interrupt, then kill the process tree if it is still running after the grace period.</summary>
    public void Stop(TimeSpan grace)
    {
        Interrupt();
        try
        {
            if (!_process.WaitForExit((int)grace.TotalMilliseconds)) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException) { }
    }

    public void Dispose()
    {
        _repeat?.Dispose();
        try { if (!_process.HasExited) Stop(TimeSpan.FromSeconds(5)); }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}
