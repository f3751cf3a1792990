using System.Globalization;
using System.Management.Automation;
using System.Text;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug
{

/// <summary>Which ftrace function-filter file.</summary>
public enum FtraceFilterKind
{
    /// <summary>set_ftrace_filter: trace only these functions.</summary>
    Filter,
    /// <summary>set_ftrace_notrace: never trace these.</summary>
    NoTrace,
    /// <summary>set_graph_function: function_graph starts a graph at these.</summary>
    GraphFunction,
    /// <summary>set_graph_notrace: function_graph skips these and their callees.</summary>
    GraphNoTrace,
    /// <summary>set_ftrace_pid: trace only these processes.</summary>
    ProcessId,
}

/// <summary>One line of an ftrace filter file.</summary>
public sealed class FtraceFilterEntry
{
    public string Instance { get; init; } = FtraceInstance.TopLevelName;
    public FtraceFilterKind Kind { get; init; }
    public string Value { get; init; } = "";
    /// <summary>The module of a "function [module]" line, if any.</summary>
    public string? Module { get; init; }
    public override string ToString() => Value;
}

}
