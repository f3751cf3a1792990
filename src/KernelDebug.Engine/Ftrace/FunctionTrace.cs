using System.Globalization;
using System.Text.RegularExpressions;
using KernelDebug.Symbols;

namespace KernelDebug.Ftrace
{
    /// <summary>
    /// Turns function and function_graph tracer output into objects: binary records (ftrace:function,
    /// ftrace:funcgraph_entry/exit) and the kernel's text rendering (the trace file of those tracers).
    /// </summary>
    public static class FunctionTrace
    {
        /// <summary>A FunctionCall from an ftrace:function record, or null for another event.</summary>
        public static FunctionCall? FromRecord(TraceRecord r, Kallsyms symbols)
        {
            if (r.System != "ftrace" || r.Name != "function") return null;
            ulong ip = r.Fields["ip"] is ulong a ? a : 0, parent = r.Fields["parent_ip"] is ulong p ? p : 0;
            return new FunctionCall
            {
                Timestamp = r.Timestamp, Cpu = r.Cpu, ProcessId = r.ProcessId, Comm = r.Comm,
                Address = ip, ParentAddress = parent, Function = symbols.Describe(ip), Parent = parent == 0 ? null : symbols.Describe(parent),
            };
        }

        private static readonly Regex FunctionLine = new(
            @"^\s*(?<comm>.*)-(?<pid>\d+)\s+\[(?<cpu>\d+)\]\s+(?:\S{4,6}\s+)?(?<ts>\d+\.\d+):\s+(?<fn>[^\s<]+)\s+<-(?<parent>\S+)\s*$",
            RegexOptions.Compiled);

        /// <summary>Parses the function tracer's text lines ("cat-136 [000] ..... 22.086467: vfs_read &lt;-ksys_read").</summary>
        public static IEnumerable<FunctionCall> ParseFunctionText(string text)
        {
            foreach (var line in text.Split('\n'))
            {
                var m = FunctionLine.Match(line);
                if (!m.Success) continue;
                var ts = decimal.Parse(m.Groups["ts"].Value, CultureInfo.InvariantCulture);
                yield return new FunctionCall
                {
                    Comm = m.Groups["comm"].Value.Trim(), ProcessId = int.Parse(m.Groups["pid"].Value, CultureInfo.InvariantCulture),
                    Cpu = int.Parse(m.Groups["cpu"].Value, CultureInfo.InvariantCulture), Timestamp = (ulong)(ts * 1_000_000_000m),
                    Function = m.Groups["fn"].Value, Parent = m.Groups["parent"].Value,
                };
            }
        }

        // " 0) ! 248.390 us  |    irq_enter_rcu();"  " 0)               |  vfs_read() {"  " 0) + 23.666 us   |        }"
        private static readonly Regex GraphLine = new(
            @"^\s*(?<cpu>\d+)\)\s+(?:(?<comm>\S+)-(?<pid>\d+)\s+=?>?\s*\|?\s*)?(?<mark>[+!#*@$])?\s*(?:(?<dur>\d+\.\d+)\s*(?<unit>us|ms|s)\s*)?\|(?<indent> *)(?<body>\S.*?)\s*$",
            RegexOptions.Compiled);

        /// <summary>
        /// Assembles the function_graph tracer's text output into call trees, one root per outermost call per CPU.
        /// Calls still open where the text ends are returned with a null Duration; closing braces without an
        /// opening line (the trace began inside a call) are skipped.
        /// </summary>
        public static List<FunctionGraphCall> ParseGraphText(string text)
        {
            var roots = new List<FunctionGraphCall>();
            var stacks = new Dictionary<int, Stack<FunctionGraphCall>>();
            foreach (var line in text.Split('\n'))
            {
                var m = GraphLine.Match(line);
                if (!m.Success) continue;
                int cpu = int.Parse(m.Groups["cpu"].Value, CultureInfo.InvariantCulture);
                var body = m.Groups["body"].Value;
                int depth = Math.Max(0, (m.Groups["indent"].Value.Length - 2) / 2);
                TimeSpan? duration = m.Groups["dur"].Success ? ToTimeSpan(m.Groups["dur"].Value, m.Groups["unit"].Value) : null;
                int pid = m.Groups["pid"].Success ? int.Parse(m.Groups["pid"].Value, CultureInfo.InvariantCulture) : 0;
                string? comm = m.Groups["comm"].Success ? m.Groups["comm"].Value : null;
                if (!stacks.TryGetValue(cpu, out var stack)) stacks[cpu] = stack = new Stack<FunctionGraphCall>();

                if (body.StartsWith('}'))
                {
                    if (stack.Count == 0) continue;
                    stack.Pop().Duration = duration;
                    continue;
                }
                int paren = body.IndexOf("()", StringComparison.Ordinal);
                if (paren <= 0) continue; // markers, comments
                var call = new FunctionGraphCall { Cpu = cpu, ProcessId = pid, Comm = comm, Function = body[..paren], Depth = depth };
                while (stack.Count > 0 && stack.Peek().Depth >= depth) stack.Pop(); // lost exits
                if (stack.Count > 0) stack.Peek().ChildList.Add(call); else roots.Add(call);
                if (body.EndsWith('{')) stack.Push(call);
                else call.Duration = duration ?? TimeSpan.Zero;
            }
            return roots;
        }

        /// <summary>Assembles ftrace:funcgraph_entry/exit records into call trees (all of them, open calls included).</summary>
        public static List<FunctionGraphCall> AssembleGraph(IEnumerable<TraceRecord> records, Kallsyms symbols)
        {
            var assembler = new FunctionGraphAssembler(symbols);
            var roots = new List<FunctionGraphCall>();
            foreach (var r in records) if (assembler.Add(r) is { } done) roots.Add(done);
            roots.AddRange(assembler.Flush());
            return roots.OrderBy(c => c.Timestamp).ToList();
        }

        private static TimeSpan ToTimeSpan(string value, string unit)
        {
            var v = double.Parse(value, CultureInfo.InvariantCulture);
            double us = unit switch { "ms" => v * 1000, "s" => v * 1_000_000, _ => v };
            return TimeSpan.FromTicks((long)Math.Round(us * 10));
        }
    }

    /// <summary>
    /// Builds function_graph call trees as records stream in: Add returns an outermost call once its exit arrived,
    /// so a stream of graphs is emitted call by call. Flush returns the calls still open.
    /// </summary>
    public sealed class FunctionGraphAssembler
    {
        private readonly Kallsyms _symbols;
        private readonly Dictionary<int, Stack<FunctionGraphCall>> _stacks = new();
        private readonly Dictionary<int, FunctionGraphCall> _openRoots = new();

        public FunctionGraphAssembler(Kallsyms symbols) => _symbols = symbols;

        public static bool IsGraphRecord(TraceRecord r) => r.System == "ftrace" && (r.Name == "funcgraph_entry" || r.Name == "funcgraph_exit");

        public FunctionGraphCall? Add(TraceRecord r)
        {
            if (!IsGraphRecord(r)) return null;
            if (!_stacks.TryGetValue(r.Cpu, out var stack)) _stacks[r.Cpu] = stack = new Stack<FunctionGraphCall>();
            int depth = Convert.ToInt32(r.Fields["depth"] ?? 0, CultureInfo.InvariantCulture);
            ulong func = r.Fields["func"] is ulong f ? f : 0;
            if (r.Name == "funcgraph_entry")
            {
                var call = new FunctionGraphCall { Cpu = r.Cpu, ProcessId = r.ProcessId, Comm = r.Comm, Timestamp = r.Timestamp, Function = _symbols.Describe(func), Depth = depth };
                while (stack.Count > 0 && stack.Peek().Depth >= depth) stack.Pop(); // exits lost
                if (stack.Count > 0) stack.Peek().ChildList.Add(call);
                else _openRoots[r.Cpu] = call;
                stack.Push(call);
                return null;
            }
            while (stack.Count > 0 && stack.Peek().Depth > depth) stack.Pop();
            if (stack.Count == 0 || stack.Peek().Depth != depth) return null; // the trace began inside this call
            var done = stack.Pop();
            ulong calltime = r.Fields["calltime"] is ulong c ? c : 0, rettime = r.Fields["rettime"] is ulong t ? t : 0;
            done.Duration = TimeSpan.FromTicks((long)((rettime >= calltime ? rettime - calltime : 0) / 100));
            if (stack.Count == 0 && _openRoots.TryGetValue(r.Cpu, out var root) && ReferenceEquals(root, done))
            {
                _openRoots.Remove(r.Cpu);
                return done;
            }
            return null;
        }

        public IEnumerable<FunctionGraphCall> Flush()
        {
            var open = _openRoots.Values.ToList();
            _openRoots.Clear();
            _stacks.Clear();
            return open;
        }
    }
}
