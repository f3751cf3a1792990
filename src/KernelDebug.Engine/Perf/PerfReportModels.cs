using KernelDebug.Perf;

namespace KernelDebug
{
    /// <summary>One line of perf report: a (comm, dso, symbol) group with its share of the samples' periods.</summary>
    public sealed class PerfHotspot
    {
        /// <summary>Self overhead: percent of the total period sampled in this entry itself.</summary>
        public double Overhead { get; init; }
        /// <summary>Percent of the total period of samples with this entry anywhere in their call chain (perf report --children); equals Overhead without call chains.</summary>
        public double Children { get; init; }
        public long Samples { get; init; }
        public ulong Period { get; init; }
        public string? Comm { get; init; }
        public string? Dso { get; init; }
        public string? Symbol { get; init; }
        /// <summary>True when the symbol is kernel code (perf's [k]).</summary>
        public bool Kernel { get; init; }
        /// <summary>The event sampled: perf report gives each event a table of its own, whose percentages add up to 100.</summary>
        public string? Event { get; init; }
        /// <summary>Watch-PerfTop: the time since the start at the end of the refresh this row belongs to.</summary>
        public TimeSpan? Interval { get; init; }

        public override string ToString() => $"{Overhead:F2}% {Comm} {Dso} {Symbol}";
    }
}
