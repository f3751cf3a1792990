using System.Collections.Concurrent;

namespace KernelDebug.Ftrace;

/// <summary>
/// An instance made for the span of one call (kerneldebug_&lt;pid&gt;_&lt;n&gt;): removed on Dispose, and, should the
/// process end first (Ctrl+C twice, Exit, SIGTERM, SIGHUP), by a shutdown hook.
/// </summary>
public sealed class PrivateInstance : IDisposable
{
    private static readonly ConcurrentDictionary<string, FtraceInstance> Live = new();

    static PrivateInstance()
    {
        // Also on SIGTERM and SIGHUP (ShutdownHooks), after recordings finished reading.
        Host.ShutdownHooks.Add(Host.ShutdownHooks.StageRemove, () =>
        {
            foreach (var i in Live.Values)
            {
                try { i.Remove(); } catch (Exception) { /* best effort while the process ends */ }
            }
        });
    }

    public PrivateInstance()
    {
        Instance = FtraceInstance.Create();
        Live[Instance.Name] = Instance;
    }

    public FtraceInstance Instance { get; }

    public void Dispose()
    {
        try { Instance.Remove(); }
        finally { Live.TryRemove(Instance.Name, out _); }
    }
}
