namespace KernelDebug;

/// <summary>One answer of Get-KernelDebugCapability: can this host do Name, and why (not).</summary>
public sealed class Capability
{
    public Capability(string name, string area, bool available, string detail, string? remedy = null)
    {
        Name = name;
        Area = area;
        Available = available;
        Detail = detail;
        Remedy = available ? null : remedy;
    }

    public string Name { get; }
    /// <summary>ftrace, probes, perf, bpf, memory, process, host or program.</summary>
    public string Area { get; }
    public bool Available { get; }
    public string Detail { get; }
    public string? Remedy { get; }

    public override string ToString() => $"{Name}: {(Available ? "available" : "not available")} ({Detail})";
}
