using System.Diagnostics;
using KernelDebug.Launch;
using KernelDebug.Native;

namespace KernelDebug.Perf;

/// <summary>perf stat's modes: a command from its exec (with children), a callback on this thread, processes or all CPUs for a duration.</summary>
public static class PerfStatRunner
{
    /// <summary>Runs a command, counting from its exec and including its children (enable_on_exec + inherit, no shell).</summary>
    /// <paramref name="whileWaiting"/> runs on the calling thread between its waits (it takes the program's captured output).
    public static IEnumerable<PerfCounterResult> RunCommand(IReadOnlyList<PerfEventSpec> events, LaunchTarget target,
        TimeSpan? interval, CancellationToken cancel, Action<string>? log = null, Action? whileWaiting = null)
    {
        using var child = ChildLauncher.StartStopped(target);
        using var set = PerfCounterSet.Open(events, new[] { (child.ProcessId, -1) },
            PerfAttrFlags.Disabled | PerfAttrFlags.Inherit | PerfAttrFlags.EnableOnExec);
        child.Resume();
        LaunchedProcess.ThrowIfExecFailed(child.WaitForExec(), child.Path);
        bool Wait(TimeSpan budget)
        {
            var sw = Stopwatch.StartNew();
            int nap = 1;
            while (true)
            {
                int r = Interop.WaitPid(child.ProcessId, out var ws, Interop.WNOHANG | Interop.__WALL);
                if (r == child.ProcessId && (ws.Exited || !ws.Stopped))
                {
                    child.MarkReaped(ws);
                    log?.Invoke($"{child.Path} {ws}");
                    return true;
                }
                if (r < 0) throw new KernelDebugException(Errno.Last, "waitpid", child.Path);
                if (cancel.IsCancellationRequested) { child.Kill(); continue; }
                whileWaiting?.Invoke();
                if (sw.Elapsed >= budget) return false;
                var left = budget - sw.Elapsed;
                cancel.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(Math.Min(nap, Math.Max(0, left.TotalMilliseconds))));
                nap = Math.Min(nap * 2, 10);
            }
        }
        foreach (var row in Collect(set, Wait, interval, perCpu: false, pid: child.ProcessId)) yield return row;
    }

    /// <summary>Counts this thread (and threads and processes it starts) while the action runs.</summary>
    public static List<PerfCounterResult> RunHere(IReadOnlyList<PerfEventSpec> events, Action action)
    {
        using var set = PerfCounterSet.Open(events, new[] { (0, -1) }, PerfAttrFlags.Disabled | PerfAttrFlags.Inherit);
        set.Enable();
        try { action(); }
        finally { set.Disable(); }
        return PerfStat.Rows(set, set.ReadAll(), perCpu: false, pid: Environment.ProcessId, interval: null).ToList();
    }

    /// <summary>Counts existing processes (each of their threads) or all CPUs for a duration, or until cancelled.</summary>
    public static IEnumerable<PerfCounterResult> RunFor(IReadOnlyList<PerfEventSpec> events, IReadOnlyList<(int Pid, int Cpu)> targets, bool perCpu, int? pid,
        TimeSpan duration, TimeSpan? interval, CancellationToken cancel)
    {
        using var set = PerfCounterSet.Open(events, targets, 0);
        var end = Stopwatch.StartNew();
        bool Wait(TimeSpan budget)
        {
            var left = duration - end.Elapsed;
            if (left <= TimeSpan.Zero || cancel.IsCancellationRequested) return true;
            if (budget >= left) { cancel.WaitHandle.WaitOne(left); return true; }
            return cancel.WaitHandle.WaitOne(budget);
        }
        foreach (var row in Collect(set, Wait, interval, perCpu, pid)) yield return row;
    }

    /// <summary>Waits (wait returns true when the run is over) and reads: once at the end, or every interval as deltas like perf stat -I.</summary>
    private static IEnumerable<PerfCounterResult> Collect(PerfCounterSet set, Func<TimeSpan, bool> wait, TimeSpan? interval, bool perCpu, int? pid)
    {
        if (interval is not { } step)
        {
            while (!wait(TimeSpan.FromDays(1))) { }
            foreach (var row in PerfStat.Rows(set, set.ReadAll(), perCpu, pid, null)) yield return row;
            yield break;
        }
        var clock = Stopwatch.StartNew();
        var previous = set.ReadAll();
        long ticks = 0;
        while (true)
        {
            ticks++;
            var budget = TimeSpan.FromTicks(step.Ticks * ticks) - clock.Elapsed;
            bool done = wait(budget < TimeSpan.Zero ? TimeSpan.Zero : budget);
            var now = set.ReadAll();
            var delta = now.Select((r, i) => (r.Counter, r.Pid, r.Cpu, r.Reading - previous[i].Reading)).ToList();
            foreach (var row in PerfStat.Rows(set, delta, perCpu, pid, clock.Elapsed)) yield return row;
            previous = now;
            if (done) yield break;
        }
    }
}
