using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using KernelDebug.Native;

namespace KernelDebug.Host;

/// <summary>
/// Cleanup that must run however the process ends: on exit (ProcessExit) and on SIGTERM and SIGHUP, which pwsh turns
/// into no ProcessExit at all (a dropped SSH session sends SIGHUP). On those signals the hooks run (recordings are
/// finished, settings put back, instances and probes removed), then the signal is raised again with its default action,
/// so the process ends with the status a shell expects (killed by SIGTERM: 143), as perf record does.
/// Hooks run in stages: first what finishes output (recordings), then what restores settings, then what removes
/// instances, then probes.
/// </summary>
public static class ShutdownHooks
{
    /// <summary>Finish output, put settings back, remove instances (which disables their events), then remove probes
    /// (a probe still enabled in an instance cannot be removed: EBUSY).</summary>
    public const int StageFinish = 0, StageRestore = 1, StageRemove = 2, StageRemoveProbes = 3;

    private static readonly ConcurrentDictionary<long, (int Stage, Action Action)> Hooks = new();
    private static long _next;
    private static int _ran;
    private static readonly List<PosixSignalRegistration> Registrations = new();

    static ShutdownHooks()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => RunAll();
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGHUP })
        {
            try { Registrations.Add(PosixSignalRegistration.Create(signal, OnSignal)); }
            catch (Exception e) when (e is PlatformNotSupportedException or IOException) { /* no signal handling here: ProcessExit only */ }
        }
    }

    /// <summary>Adds a hook; dispose the result once the cleanup ran the normal way.</summary>
    public static IDisposable Add(int stage, Action action)
    {
        long id = Interlocked.Increment(ref _next);
        Hooks[id] = (stage, action);
        return new Registration(id);
    }

    /// <summary>Makes sure the handlers are installed (the static constructor runs).</summary>
    public static void Install() { }

    /// <summary>Runs every hook once, stage by stage, each one's failure ignored (the process is ending).</summary>
    public static void RunAll()
    {
        if (Interlocked.Exchange(ref _ran, 1) != 0) return;
        foreach (var (_, (stage, action)) in Hooks.OrderBy(h => h.Value.Stage).ThenBy(h => h.Key))
        {
            try { action(); } catch (Exception) { /* best effort while the process ends */ }
        }
        Hooks.Clear();
    }

    private static void OnSignal(PosixSignalContext context)
    {
        RunAll();
        int signo = context.Signal switch { PosixSignal.SIGHUP => 1, PosixSignal.SIGTERM => Interop.SIGTERM, _ => 0 };
        if (signo == 0) return;
        // Die of the signal itself (default action), not of an exit code that hides it.
        context.Cancel = true;
        foreach (var r in Registrations) r.Dispose();
        Interop.ResetSignalToDefault(signo);
        Interop.kill(Environment.ProcessId, signo);
        // The default action ends the process; should the signal stay blocked on this thread, exit the conventional way.
        Thread.Sleep(2000);
        Environment.Exit(128 + signo);
    }

    private sealed class Registration : IDisposable
    {
        private readonly long _id;
        public Registration(long id) => _id = id;
        public void Dispose() => Hooks.TryRemove(_id, out _);
    }
}
