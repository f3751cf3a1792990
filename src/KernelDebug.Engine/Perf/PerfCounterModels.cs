using System.Globalization;
using System.Management.Automation;
using KernelDebug.Host;
using KernelDebug.Native;
using KernelDebug.Perf;

namespace KernelDebug
{
    /// <summary>One line of perf stat: an event's count over a run, an interval, a CPU or the mean of repeated runs.</summary>
    public sealed class PerfCounterResult
    {
        public required string Event { get; init; }
        /// <summary>The count, scaled for multiplexing (value × enabled / running) when Scaled; nanoseconds for the clocks.</summary>
        public ulong Value { get; init; }
        /// <summary>"ns" for task-clock and cpu-clock, empty for counts.</summary>
        public string Unit { get; init; } = string.Empty;
        public TimeSpan TimeEnabled { get; init; }
        public TimeSpan TimeRunning { get; init; }
        /// <summary>True when the counter was multiplexed (ran for part of the time) and Value is extrapolated.</summary>
        public bool Scaled { get; init; }
        /// <summary>False for perf's &lt;not supported&gt;: the host cannot count this event.</summary>
        public bool Supported { get; init; } = true;
        public string? Reason { get; init; }
        public int? ProcessId { get; init; }
        public int? Cpu { get; init; }
        /// <summary>With -Interval: the time since the start at the end of this interval.</summary>
        public TimeSpan? Interval { get; init; }
        /// <summary>With -Repeat: the number of runs averaged, the sample standard deviation, and perf stat -r's "+- %" (standard error of the mean over the mean).</summary>
        public int Runs { get; init; } = 1;
        public double StandardDeviation { get; init; }
        public double VariationPercent { get; init; }
        /// <summary>Share of the enabled time the counter ran, in percent (perf's trailing percentage).</summary>
        public double RunningPercent => TimeEnabled.Ticks == 0 ? (Supported ? 100 : 0) : 100.0 * TimeRunning.Ticks / TimeEnabled.Ticks;

        public override string ToString() => Supported ? $"{Event} {Value.ToString(CultureInfo.InvariantCulture)}{(Unit.Length > 0 ? " " + Unit : "")}" : $"{Event} <not supported>";
    }
}
