using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Memory;

/// <summary>
/// What the last memory-error read of a session (Get-KasanReport, Get-KmemleakReport, Invoke-KmemleakScan) could see:
/// the detectors it relied on and whether this kernel has them. An empty result means "healthy" only when
/// <see cref="Satisfied"/>; Should -HaveNoMemoryErrors reads this, because an empty pipeline carries nothing else.
/// </summary>
public sealed class MemoryDetectorState
{
    public MemoryDetectorState(string command, IReadOnlyList<Capability> detectors, bool requireAll, bool fromSavedLog = false)
    {
        Command = command;
        Detectors = detectors;
        RequireAll = requireAll;
        FromSavedLog = fromSavedLog;
    }

    /// <summary>The cmdlet that read.</summary>
    public string Command { get; }
    /// <summary>The capabilities (Kasan, Kfence, Ubsan, Kmemleak) of the detectors asked for.</summary>
    public IReadOnlyList<Capability> Detectors { get; }
    /// <summary>True when the detectors were named (-Detector): each must be present; otherwise one is enough.</summary>
    public bool RequireAll { get; }
    /// <summary>Read from a saved log or report (-Path): the kernel's detectors do not matter.</summary>
    public bool FromSavedLog { get; }

    public IReadOnlyList<Capability> Missing => Detectors.Where(d => !d.Available).ToList();

    public bool Satisfied => FromSavedLog || (RequireAll ? Detectors.All(d => d.Available) : Detectors.Any(d => d.Available));

    /// <summary>Why an empty result proves nothing, with the remedies; empty when satisfied.</summary>
    public string Reason => Satisfied ? string.Empty :
        (RequireAll ? "a detector it was asked to read is not built into this kernel, so its reports cannot appear: "
                    : "no detector it reads is built into this kernel, so no report can appear: ") +
        string.Join("; ", Missing.Select(d => $"{d.Name}: {d.Detail}"));

    public string Remedy => string.Join(" ", Missing.Select(d => d.Remedy).Where(r => !string.IsNullOrEmpty(r)).Distinct());
}

/// <summary>Probing and remembering (per runspace) the detectors the memory cmdlets read.</summary>
public static class MemoryDetectors
{
    private static readonly ConditionalWeakTable<Runspace, MemoryDetectorState> LastByRunspace = new();

    /// <summary>The capability that tells whether the kernel has a detector.</summary>
    public static string CapabilityName(MemoryErrorDetector d) => d switch
    {
        MemoryErrorDetector.KASAN => "Kasan",
        MemoryErrorDetector.KFENCE => "Kfence",
        _ => "Ubsan",
    };

    public static IReadOnlyList<Capability> Probe(IEnumerable<string> capabilityNames) => CapabilityProbe.Run(capabilityNames).ToList();

    /// <summary>Remembers the state for the runspace of the calling (pipeline) thread.</summary>
    public static void Record(MemoryDetectorState state)
    {
        if (Runspace.DefaultRunspace is { } rs) LastByRunspace.AddOrUpdate(rs, state);
    }

    /// <summary>
    /// Records that a kmemleak cmdlet read kmemleak. It also ends with KmemleakNotAvailable when kmemleak is missing; the
    /// state tells Should -HaveNoMemoryErrors the same when that error was ignored and nothing came down the pipeline.
    /// </summary>
    public static void RecordKmemleak(string command) =>
        Record(new MemoryDetectorState(command, Probe(new[] { "Kmemleak" }), requireAll: true));

    /// <summary>The last state recorded in this runspace, or null when no memory cmdlet has run in it.</summary>
    public static MemoryDetectorState? Last =>
        Runspace.DefaultRunspace is { } rs && LastByRunspace.TryGetValue(rs, out var s) ? s : null;

    /// <summary>The error for -RequireDetector.</summary>
    public static KernelDebugException MissingError(MemoryDetectorState state) =>
        new($"{state.Command}: {state.Reason}.", "MemoryErrorDetectorMissing", ErrorCategory.NotInstalled) { Remedy = state.Remedy };
}
