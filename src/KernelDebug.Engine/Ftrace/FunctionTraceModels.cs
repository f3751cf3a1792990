using System.Globalization;
using System.Text.RegularExpressions;
using KernelDebug.Host;

namespace KernelDebug
{
    /// <summary>One hit of the function tracer: a function and the function that called it.</summary>
    public sealed class FunctionCall
    {
        public ulong Timestamp { get; init; }
        public int Cpu { get; init; }
        public int ProcessId { get; init; }
        public string? Comm { get; init; }
        public string Function { get; init; } = "";
        public string? Parent { get; init; }
        public ulong Address { get; init; }
        public ulong ParentAddress { get; init; }
        public override string ToString() => $"{Function} <-{Parent}";
    }

    /// <summary>One call in a function_graph call tree, with its duration and the calls it made.</summary>
    public sealed class FunctionGraphCall
    {
        public int Cpu { get; init; }
        public int ProcessId { get; init; }
        public string? Comm { get; init; }
        /// <summary>Entry time in trace-clock ns, when known (binary records; the text output has none).</summary>
        public ulong? Timestamp { get; init; }
        public string Function { get; init; } = "";
        public int Depth { get; init; }
        /// <summary>Time from entry to return; null for a call still open where the trace ends.</summary>
        public TimeSpan? Duration { get; set; }
        public ItemList<FunctionGraphCall> Children { get; }
        internal List<FunctionGraphCall> ChildList { get; } = new();
        public FunctionGraphCall() => Children = new ItemList<FunctionGraphCall>(ChildList);
        public bool IsComplete => Duration is not null;
        /// <summary>Every call below this one, depth first.</summary>
        public IEnumerable<FunctionGraphCall> Descendants() => Children.SelectMany(c => c.Descendants().Prepend(c));
        public override string ToString() => $"{new string(' ', Depth * 2)}{Function}() {Duration?.TotalMicroseconds.ToString("0.000", CultureInfo.InvariantCulture)} us";
    }
}
