using System.Globalization;
using System.Management.Automation;
using KernelDebug.Host;
using KernelDebug.Native;
using KernelDebug.Perf;

namespace KernelDebug.Perf
{
    /// <summary>One raw reading of a counter with read_format TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING.</summary>
    public readonly record struct CounterReading(ulong Value, ulong Enabled, ulong Running)
    {
        public static CounterReading operator -(CounterReading a, CounterReading b) => new(a.Value - b.Value, a.Enabled - b.Enabled, a.Running - b.Running);
        public static CounterReading operator +(CounterReading a, CounterReading b) => new(a.Value + b.Value, a.Enabled + b.Enabled, a.Running + b.Running);

        /// <summary>The value extrapolated to the enabled time, as perf stat scales multiplexed counters.</summary>
        public ulong ScaledValue => Running == 0 || Running >= Enabled ? (Running == 0 ? 0 : Value) : (ulong)((double)Value * Enabled / Running);
    }

    /// <summary>
    /// A set of counting perf events: for each event one fd per target (a thread, a process with its children, or a CPU).
    /// Events the host cannot count are kept as unsupported entries, as perf stat shows them.
    /// </summary>
    public sealed class PerfCounterSet : IDisposable
    {
        private const ulong ReadFormatTimes = 1 | 2; // PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING
        private const nuint IocEnable = 0x2400, IocDisable = 0x2401;

        public sealed class Counter
        {
            internal Counter(PerfEventSpec spec) => Spec = spec;
            public PerfEventSpec Spec { get; internal set; }
            public bool Supported { get; internal set; } = true;
            public string? Reason { get; internal set; }
            internal readonly List<(int Pid, int Cpu, SafeFileDescriptor Fd)> Fds = new();
        }

        private readonly List<Counter> _counters = new();

        public IReadOnlyList<Counter> Counters => _counters;

        /// <summary>Opens every event on every (pid, cpu) target. Permission problems throw with perf's paranoid explanation.</summary>
        public static PerfCounterSet Open(IReadOnlyList<PerfEventSpec> events, IReadOnlyList<(int Pid, int Cpu)> targets, PerfAttrFlags flags)
        {
            var set = new PerfCounterSet();
            try
            {
                foreach (var spec in events)
                {
                    var counter = new Counter(spec);
                    set._counters.Add(counter);
                    foreach (var (pid, cpu) in targets)
                    {
                        int fd = OpenOne(counter.Spec, flags, pid, cpu);
                        int errno = fd < 0 ? Errno.Last : 0;
                        // As perf does at perf_event_paranoid 2 and up: an unprivileged user counts user space only (name:u).
                        if (fd < 0 && errno is Errno.EACCES or Errno.EPERM && !counter.Spec.ExcludeKernel && counter.Fds.Count == 0)
                        {
                            var userOnly = counter.Spec.UserOnly();
                            fd = OpenOne(userOnly, flags, pid, cpu);
                            if (fd >= 0) counter.Spec = userOnly;
                        }
                        if (fd >= 0) { counter.Fds.Add((pid, cpu, new SafeFileDescriptor(fd))); continue; }
                        if (errno is Errno.ENOENT or Errno.EOPNOTSUPP or Errno.ENODEV)
                        {
                            counter.Supported = false;
                            counter.Reason = PerfEventList.ExplainOpenError(errno);
                            foreach (var f in counter.Fds) f.Fd.Dispose();
                            counter.Fds.Clear();
                            break;
                        }
                        throw OpenError(errno, spec, pid, cpu);
                    }
                }
                return set;
            }
            catch
            {
                set.Dispose();
                throw;
            }
        }

        private static int OpenOne(PerfEventSpec spec, PerfAttrFlags flags, int pid, int cpu)
        {
            var attr = spec.ToAttr(flags);
            attr.ReadFormat = ReadFormatTimes;
            return Interop.perf_event_open(ref attr, pid, cpu, -1, Interop.PERF_FLAG_FD_CLOEXEC);
        }

        internal static KernelDebugException OpenError(int errno, PerfEventSpec spec, int pid, int cpu)
        {
            string target = pid > 0 ? $"process {pid}" : pid == 0 ? "this process" : $"CPU {cpu}";
            if (errno is Errno.EACCES or Errno.EPERM)
                return new KernelDebugException(errno, "perf_event_open", $"{spec.Name} on {target}", "PerfEventAccessDenied")
                {
                    Remedy = CapabilityProbe.ParanoidRemedy + $" This host has perf_event_paranoid={CapabilityProbe.Paranoid}.",
                };
            if (errno == Errno.ESRCH)
                return new KernelDebugException($"There is no process with id {pid}.", "ProcessNotFound", ErrorCategory.ObjectNotFound) { Target = pid.ToString(CultureInfo.InvariantCulture) };
            return new KernelDebugException(errno, "perf_event_open", $"{spec.Name} on {target}", "PerfEventOpenFailed");
        }

        public void Enable() => ForEachFd(fd => Interop.Check(Interop.ioctl(fd, IocEnable, 0), "ioctl PERF_EVENT_IOC_ENABLE"));

        public void Disable() => ForEachFd(fd => Interop.Check(Interop.ioctl(fd, IocDisable, 0), "ioctl PERF_EVENT_IOC_DISABLE"));

        private void ForEachFd(Action<SafeFileDescriptor> action)
        {
            foreach (var c in _counters)
                foreach (var f in c.Fds) action(f.Fd);
        }

        /// <summary>Reads every fd of every counter: (counter, pid, cpu, reading).</summary>
        public List<(Counter Counter, int Pid, int Cpu, CounterReading Reading)> ReadAll()
        {
            var list = new List<(Counter, int, int, CounterReading)>();
            Span<byte> buf = stackalloc byte[24];
            foreach (var c in _counters)
                foreach (var (pid, cpu, fd) in c.Fds)
                {
                    int n = Interop.Read(fd, buf, c.Spec.Name);
                    var r = n >= 24
                        ? new CounterReading(BitConverter.ToUInt64(buf), BitConverter.ToUInt64(buf[8..]), BitConverter.ToUInt64(buf[16..]))
                        : default;
                    list.Add((c, pid, cpu, r));
                }
            return list;
        }

        public void Dispose()
        {
            foreach (var c in _counters)
            {
                foreach (var f in c.Fds) f.Fd.Dispose();
                c.Fds.Clear();
            }
        }
    }

    /// <summary>Turns readings into perf stat rows: summed per event, or per CPU; averaged over repeated runs.</summary>
    public static class PerfStat
    {
        private static PerfCounterResult Row(PerfCounterSet.Counter c, ulong value, CounterReading times, int? pid, int? cpu, TimeSpan? interval) =>
            c.Supported
                ? new PerfCounterResult
                {
                    Event = c.Spec.Name, Value = value, Unit = c.Spec.Unit, TimeEnabled = Ns(times.Enabled), TimeRunning = Ns(times.Running),
                    Scaled = times.Running != 0 && times.Running < times.Enabled, ProcessId = pid, Cpu = cpu, Interval = interval,
                }
                : new PerfCounterResult { Event = c.Spec.Name, Unit = c.Spec.Unit, Supported = false, Reason = c.Reason, ProcessId = pid, Cpu = cpu, Interval = interval };

        private static TimeSpan Ns(ulong ns) => TimeSpan.FromTicks((long)(ns / 100));

        /// <summary>Rows from one reading of the set: one per event (each fd scaled, then summed, as perf does), or one per event and CPU.</summary>
        public static IEnumerable<PerfCounterResult> Rows(PerfCounterSet set, IReadOnlyList<(PerfCounterSet.Counter Counter, int Pid, int Cpu, CounterReading Reading)> readings,
            bool perCpu, int? pid, TimeSpan? interval)
        {
            foreach (var c in set.Counters)
            {
                var mine = readings.Where(r => ReferenceEquals(r.Counter, c)).ToList();
                if (!c.Supported || !perCpu)
                {
                    ulong value = 0;
                    var times = default(CounterReading);
                    foreach (var r in mine) { value += r.Reading.ScaledValue; times += r.Reading; }
                    yield return Row(c, value, times, pid, null, interval);
                }
                else
                    foreach (var r in mine) yield return Row(c, r.Reading.ScaledValue, r.Reading, pid, r.Cpu, interval);
            }
        }

        /// <summary>perf stat -r: the mean of each event over the runs, its standard deviation, and perf's "+- %".</summary>
        public static IEnumerable<PerfCounterResult> Mean(IReadOnlyList<List<PerfCounterResult>> runs)
        {
            if (runs.Count == 0) yield break;
            for (int i = 0; i < runs[0].Count; i++)
            {
                var rows = runs.Select(r => r[i]).ToList();
                var first = rows[0];
                if (!first.Supported) { yield return new PerfCounterResult { Event = first.Event, Unit = first.Unit, Supported = false, Reason = first.Reason, Runs = runs.Count, Cpu = first.Cpu }; continue; }
                double mean = rows.Average(r => (double)r.Value);
                double sd = rows.Count < 2 ? 0 : Math.Sqrt(rows.Sum(r => ((double)r.Value - mean) * ((double)r.Value - mean)) / (rows.Count - 1));
                yield return new PerfCounterResult
                {
                    Event = first.Event, Value = (ulong)Math.Round(mean), Unit = first.Unit,
                    TimeEnabled = TimeSpan.FromTicks((long)rows.Average(r => r.TimeEnabled.Ticks)), TimeRunning = TimeSpan.FromTicks((long)rows.Average(r => r.TimeRunning.Ticks)),
                    Scaled = rows.Any(r => r.Scaled), Runs = rows.Count, StandardDeviation = sd,
                    VariationPercent = mean == 0 ? 0 : 100.0 * sd / Math.Sqrt(rows.Count) / mean,
                    ProcessId = rows.All(r => r.ProcessId == first.ProcessId) ? first.ProcessId : null, Cpu = first.Cpu,
                };
            }
        }

        /// <summary>The online CPUs (/sys/devices/system/cpu/online: "0-3,5").</summary>
        public static IReadOnlyList<int> OnlineCpus()
        {
            var text = ControlFile.TryReadText("/sys/devices/system/cpu/online", out _)?.Trim();
            if (string.IsNullOrEmpty(text)) return Enumerable.Range(0, Environment.ProcessorCount).ToArray();
            var cpus = new List<int>();
            foreach (var part in text.Split(','))
            {
                var ends = part.Split('-');
                int lo = int.Parse(ends[0], CultureInfo.InvariantCulture), hi = ends.Length > 1 ? int.Parse(ends[1], CultureInfo.InvariantCulture) : lo;
                for (int c = lo; c <= hi; c++) cpus.Add(c);
            }
            return cpus;
        }

        /// <summary>The threads of a process (/proc/pid/task); throws ProcessNotFound when it does not exist.</summary>
        public static IReadOnlyList<int> Threads(int pid)
        {
            try
            {
                return Directory.GetDirectories($"/proc/{pid}/task").Select(d => int.Parse(Path.GetFileName(d), CultureInfo.InvariantCulture)).OrderBy(t => t).ToArray();
            }
            catch (DirectoryNotFoundException)
            {
                throw new KernelDebugException($"There is no process with id {pid}.", "ProcessNotFound", ErrorCategory.ObjectNotFound) { Target = pid.ToString(CultureInfo.InvariantCulture) };
            }
        }
    }
}
