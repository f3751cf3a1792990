using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using KernelDebug.Perf;

namespace KernelDebug
{
    /// <summary>One resolved address: the instruction pointer, its symbol and the file (DSO) it is in.</summary>
    public sealed class PerfFrame
    {
        public PerfFrame(ulong ip, string symbol, string dso, ulong offset, ulong symbolOffset, bool kernel)
        {
            Ip = ip; Symbol = symbol; Dso = dso; Offset = offset; SymbolOffset = symbolOffset; Kernel = kernel;
        }

        public ulong Ip { get; }
        /// <summary>The function, or [unknown] as perf prints it.</summary>
        public string Symbol { get; }
        /// <summary>The mapped file, [kernel.kallsyms], [module], or [unknown].</summary>
        public string Dso { get; }
        /// <summary>The address inside the DSO (what perf script prints for call-chain frames; objdump's address for the file).</summary>
        public ulong Offset { get; }
        /// <summary>The distance from the start of the symbol (perf's sym+0x…).</summary>
        public ulong SymbolOffset { get; }
        public bool Kernel { get; }

        public override string ToString() => $"{Symbol}+0x{SymbolOffset:x} ({Dso})";
    }

    /// <summary>One sample of a perf.data file, as perf script shows it.</summary>
    public sealed class PerfSample
    {
        /// <summary>The sample time in nanoseconds of perf's clock (perf script prints it as seconds).</summary>
        public ulong Timestamp { get; init; }
        public int ProcessId { get; init; }
        public int ThreadId { get; init; }
        public string Comm { get; init; } = string.Empty;
        /// <summary>The CPU, or -1 when the recording did not sample it.</summary>
        public int Cpu { get; init; }
        public string Event { get; init; } = string.Empty;
        public ulong Period { get; init; }
        public ulong Ip { get; init; }
        public string Symbol { get; init; } = "[unknown]";
        public string Dso { get; init; } = "[unknown]";
        public ulong Offset { get; init; }
        public ulong SymbolOffset { get; init; }
        /// <summary>Innermost frame first; empty when the recording has no call graph.</summary>
        public ItemList<PerfFrame> CallChain { get; init; } = ItemList<PerfFrame>.Empty;

        /// <summary>The sample time on perf's clock (since boot for perf's default clock), as perf script's time column
        /// prints it in seconds: a TimeSpan, exact to 100 ns (Timestamp keeps the nanoseconds).</summary>
        public TimeSpan Time => TimeSpan.FromTicks((long)(Timestamp / 100));
        /// <summary>Time in seconds, as a number (perf script's time column).</summary>
        public double TimeSeconds => Timestamp / 1e9;

        public override string ToString() => $"{Comm} {ProcessId}/{ThreadId} {Timestamp / 1e9:F6}: {Ip:x} {Symbol} ({Dso})";
    }
}
