using System.Management.Automation;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Ftrace;

/// <summary>
/// The classic wakeup-latency histogram from the kernel's hist documentation, built of the module's pieces: a
/// synthetic event (pid, comm, lat), a hist trigger on sched_waking saving ts0 per pid, one on sched_switch computing
/// lat = common_timestamp.usecs - $ts0 for next_pid and firing the synthetic event onmatch, and a hist on the synthetic
/// event keyed by pid, comm and lat.log2. Everything is removed afterwards, newest first.
/// </summary>
public sealed class WakeupLatency
{
    public string SyntheticName { get; }
    private readonly FtraceInstance _instance;
    private readonly List<(string System, string Event, string Trigger)> _triggers = new();
    private bool _synthMade;

    public WakeupLatency(FtraceInstance instance)
    {
        _instance = instance;
        SyntheticName = $"{Naming.Prefix}_wakeup_lat_{Naming.ProcessId}_{Naming.NextSequence()}";
    }

    /// <summary>The three hist triggers, in the order they are written (each reads what the one before defines).</summary>
    public static IReadOnlyList<(string System, string Event, HistTriggerSpec Spec)> Plan(string synthetic, string? filter = null) => new[]
    {
        ("sched", "sched_waking", new HistTriggerSpec { Keys = new[] { "pid" }, Variables = new[] { "ts0=common_timestamp.usecs" } }),
        ("sched", "sched_switch", new HistTriggerSpec
        {
            Keys = new[] { "next_pid" },
            Variables = new[] { "wakeup_lat=common_timestamp.usecs-$ts0" },
            Actions = new[] { $"onmatch(sched.sched_waking).trace({synthetic},next_pid,next_comm,$wakeup_lat)" },
        }),
        ("synthetic", synthetic, new HistTriggerSpec { Keys = new[] { "pid", "comm", "lat.log2" }, Sort = new[] { "pid", "lat" }, Filter = filter }),
    };

    public static readonly string[] SyntheticFields = { "pid_t pid", "char comm[16]", "u64 lat" };

    public void Start(string? filter = null)
    {
        SyntheticEvents.Add(SyntheticName, SyntheticFields, useDynamicEvents: false);
        _synthMade = true;
        TraceEventCatalog.Invalidate();
        foreach (var (system, ev, spec) in Plan(SyntheticName, filter))
        {
            var format = TraceEventCatalog.GetFormat(system, ev);
            var line = HistTriggers.Add(_instance, format, spec);
            _triggers.Add((system, ev, line));
        }
    }

    /// <summary>The synthetic event's hist, per task.</summary>
    public List<WakeupLatencyHistogram> Read()
    {
        var format = TraceEventCatalog.GetFormat("synthetic", SyntheticName);
        var text = ControlFile.ReadText(_instance.FilePath(Path.Combine("events", "synthetic", SyntheticName, "hist")));
        return Summarize(TraceHistogramParser.Parse(text, format, _instance.Name).FirstOrDefault());
    }

    /// <summary>Groups a pid,comm,lat.log2 histogram per task.</summary>
    public static List<WakeupLatencyHistogram> Summarize(TraceHistogram? histogram)
    {
        var list = new List<WakeupLatencyHistogram>();
        if (histogram is null) return list;
        foreach (var g in histogram.Buckets.GroupBy(b => (Pid: Convert.ToInt32(b.Keys["pid"], System.Globalization.CultureInfo.InvariantCulture), Comm: b.Keys["comm"]?.ToString() ?? "")))
        {
            var buckets = g.Select(b => new WakeupLatencyBucket { UpToMicroseconds = b.Keys["lat"] is ulong u ? u : 0, Count = b.HitCount })
                .OrderBy(b => b.UpToMicroseconds).ToArray();
            list.Add(new WakeupLatencyHistogram
            {
                ProcessId = g.Key.Pid, Command = g.Key.Comm, Buckets = buckets,
                Count = (ulong)buckets.Sum(b => (decimal)b.Count), MaxMicroseconds = buckets.Length == 0 ? 0 : buckets[^1].UpToMicroseconds,
            });
        }
        return list.OrderByDescending(h => h.MaxMicroseconds).ThenBy(h => h.ProcessId).ToList();
    }

    /// <summary>Removes the triggers newest first, then the synthetic event; the first failure is rethrown at the end.</summary>
    public void Stop()
    {
        KernelDebugException? first = null;
        for (int i = _triggers.Count - 1; i >= 0; i--)
        {
            try { HistTriggers.Control(_instance, _triggers[i].System, _triggers[i].Event, _triggers[i].Trigger, "remove"); }
            catch (KernelDebugException e) { first ??= e; }
        }
        _triggers.Clear();
        if (_synthMade)
        {
            try { SyntheticEvents.Remove(SyntheticName); _synthMade = false; }
            catch (KernelDebugException e) { first ??= e; }
        }
        TraceEventCatalog.Invalidate();
        if (first is not null) throw first;
    }
}
