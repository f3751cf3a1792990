namespace KernelDebug;

/// <summary>A tracer the kernel offers (available_tracers) in one instance.</summary>
public sealed class FtraceTracer
{
    public string Name { get; init; } = "";
    public bool IsCurrent { get; init; }
    public string Instance { get; init; } = FtraceInstance.TopLevelName;
    public override string ToString() => Name;
}
