namespace KernelDebug
{
    /// <summary>What perf diff computes per entry: the change in share (Delta), the ratio of periods, or a weighted difference.</summary>
    public enum PerfDiffCompute { Delta, Ratio, WeightedDiff }

    /// <summary>One line of perf diff: a (DSO, symbol) with its share in the baseline and the change in the other recording.</summary>
    public sealed class PerfDiffEntry
    {
        public string Event { get; init; } = string.Empty;
        public string? Dso { get; init; }
        public string? Symbol { get; init; }
        /// <summary>True when the symbol is kernel code (perf's [k]).</summary>
        public bool Kernel { get; init; }
        /// <summary>Percent of the baseline's period in this entry; null when the baseline has no sample in it (perf prints nothing).</summary>
        public double? Baseline { get; init; }
        /// <summary>Percent of the other recording's period in this entry; null when it has no sample in it.</summary>
        public double? Percent { get; init; }
        /// <summary>Percent in the other recording minus percent in the baseline; null when the other recording has no sample in it (perf prints nothing).</summary>
        public double? Delta { get; init; }
        /// <summary>The other recording's period over the baseline's (perf diff -c ratio); null without both.</summary>
        public double? Ratio { get; init; }
        /// <summary>Period × w2 − baseline period × w1 (perf diff -c wdiff:w1,w2); null without both.</summary>
        public long? WeightedDiff { get; init; }
        public ulong BaselinePeriod { get; init; }
        public ulong Period { get; init; }
        public long BaselineSamples { get; init; }
        public long Samples { get; init; }
        /// <summary>The column perf diff would print (-Compute).</summary>
        public PerfDiffCompute Compute { get; init; }

        public override string ToString() => $"{Baseline:F2}% {Delta:+0.00;-0.00}% {Dso} {Symbol}";
    }
}
