using System.Globalization;
using KernelDebug.Host;
using KernelDebug.Native;
using KernelDebug.Perf;

namespace KernelDebug
{
    /// <summary>One event of Get-PerfEvent (a line of perf list), with whether this host can open it.</summary>
    public sealed class PerfEventInfo
    {
        public PerfEventInfo(string name, PerfEventKind type, ulong config, string description, bool supported, string? reason)
        {
            Name = name; Type = type; Config = config; Description = description; Supported = supported; Reason = reason;
        }

        public string Name { get; }
        public PerfEventKind Type { get; }
        public ulong Config { get; }
        public string Description { get; }
        /// <summary>True when perf_event_open accepted the event on this process.</summary>
        public bool Supported { get; }
        /// <summary>Why it is not supported (the errno), empty when supported.</summary>
        public string? Reason { get; }

        public override string ToString() => Name;
    }
}
