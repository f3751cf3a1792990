namespace KernelDebug;

/// <summary>How one health-check test ended. Skipped means "could not check" (a detector or feature is missing), never healthy.</summary>
public enum HealthCheckOutcome { Passed, Failed, Skipped, NotRun }

/// <summary>One test of Invoke-KernelDebugHealthCheck: which host, which check, how it ended and why.</summary>
public sealed class HealthCheckResult
{
    /// <summary>The host the check ran on (its host name; over remoting PSComputerName is added too).</summary>
    public string ComputerName { get; init; } = string.Empty;
    /// <summary>MemoryReports, Leftovers, LostEvents or Capabilities.</summary>
    public string Check { get; init; } = string.Empty;
    /// <summary>The test's name, e.g. "KASAN: no report since boot".</summary>
    public string Name { get; init; } = string.Empty;
    public HealthCheckOutcome Result { get; init; }
    /// <summary>Why it failed or was skipped (the assertion's message, or the missing detector with its remedy); empty when it passed.</summary>
    public string Reason { get; init; } = string.Empty;
    public TimeSpan Duration { get; init; }

    public override string ToString() => $"{ComputerName} {Check}: {Name}: {Result}{(Reason.Length > 0 ? $" ({Reason})" : "")}";
}
