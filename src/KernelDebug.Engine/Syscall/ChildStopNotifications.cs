using KernelDebug.Native;

namespace KernelDebug.Syscall;

/// <summary>
/// Every ptrace stop sends SIGCHLD to the tracer's process. In pwsh that wakes .NET's signal thread, which (once any
/// native command ran) polls waitpid for each child it started: a cross-thread round trip per stop that doubled the
/// cost of a traced syscall. While a tracer runs, SA_NOCLDSTOP is added to the process's SIGCHLD action, so stops no
/// longer raise SIGCHLD (waitpid still wakes); exits still do, which is all .NET listens for. The handler is kept.
/// </summary>
public static class ChildStopNotifications
{
    private static readonly object Gate = new();
    private static int _users;
    private static bool _weSetIt;

    /// <summary>Silences stop notifications until the returned scope is disposed (nested and concurrent scopes count).</summary>
    public static IDisposable Suppress()
    {
        lock (Gate)
        {
            if (_users++ == 0) _weSetIt = SetNoChildStop(true);
        }
        return new Scope();
    }

    private sealed class Scope : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            lock (Gate)
            {
                if (--_users == 0 && _weSetIt) { SetNoChildStop(false); _weSetIt = false; }
            }
        }
    }

    /// <summary>Sets or clears SA_NOCLDSTOP, keeping handler, mask and other flags; true when it changed the action.</summary>
    private static unsafe bool SetNoChildStop(bool on)
    {
        byte* action = stackalloc byte[Interop.SigactionSize];
        if (Interop.sigaction(Interop.SIGCHLD, null, action) != 0) return false;
        ref int flags = ref *(int*)(action + Interop.SigactionFlagsOffset);
        bool isOn = (flags & Interop.SA_NOCLDSTOP) != 0;
        if (isOn == on) return false;
        flags = on ? flags | Interop.SA_NOCLDSTOP : flags & ~Interop.SA_NOCLDSTOP;
        return Interop.sigaction(Interop.SIGCHLD, action, null) == 0;
    }

    /// <summary>True when this process's SIGCHLD action has SA_NOCLDSTOP (for tests).</summary>
    public static unsafe bool IsSuppressed
    {
        get
        {
            byte* action = stackalloc byte[Interop.SigactionSize];
            return Interop.sigaction(Interop.SIGCHLD, null, action) == 0 &&
                   (*(int*)(action + Interop.SigactionFlagsOffset) & Interop.SA_NOCLDSTOP) != 0;
        }
    }
}
