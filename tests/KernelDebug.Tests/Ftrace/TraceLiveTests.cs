using KernelDebug.Ftrace;
using KernelDebug.Host;
using KernelDebug.Launch;
using Xunit;

namespace KernelDebug.Tests.Ftrace;

/// <summary>
/// The correctness oracle, live: one run traced into two instances with the same events and the same pid filter.
/// Our records from one are compared with that instance's own text rendering (trace) and with trace-cmd report on a
/// trace.dat that trace-cmd extract made from the twin.
/// </summary>
public class TraceLiveTests
{
    // Every sched and syscalls event: the comparison covers each format the run touches.
    private static readonly string[] Events = { "sched:*", "syscalls:*" };

    private static bool Live => KernelFileSystems.IsRoot && Directory.Exists(Path.Combine(KernelFileSystems.GetTraceFs(), "events", "syscalls"));

    [Fact]
    public void LiveRecordsEqualTheKernelsTextAndTraceCmdReport()
    {
        Assert.True(Live, "needs root and syscall tracepoints (this host has them)");
        var ours = FtraceInstance.Create();
        var twin = FtraceInstance.Create();
        var dat = Path.Combine(Path.GetTempPath(), $"kd-oracle-{Environment.ProcessId}.dat");
        try
        {
            using var child = ChildLauncher.StartStopped("ls", new[] { "-la", "/etc", "/usr/lib" }, new LaunchOptions { StandardOutputPath = "/dev/null" });
            foreach (var i in new[] { ours, twin })
            {
                i.AddEventPids(new[] { child.ProcessId });
                i.SetOption("event-fork", true);
                i.EnableEvents(TraceEventCatalog.Match(Events), null);
            }
            child.Resume();
            Assert.Equal(0, child.WaitForExec());
            child.WaitForExit();
            ours.SetTracingOn(false);
            twin.SetTracingOn(false);

            var text = TextTraceLine.Parse(ours.ReadFile("trace"));
            var records = new List<TraceRecord>();
            using (var reader = new TraceStreamReader(ours))
                reader.Run(r => { records.Add(r); return true; }, new TraceReadOptions { NoWait = true }, CancellationToken.None);
            Assert.True(records.Count > 50, $"{records.Count} records");
            Assert.Contains(records, r => r.Name == "sched_switch");
            Assert.Contains(records, r => r.Name == "sys_enter_openat");
            var mismatches = TextTraceLine.Compare(records, text, out int fields);
            Assert.True(mismatches.Count == 0, "against trace:\n" + string.Join("\n", mismatches));
            Assert.True(fields > records.Count);

            var traceCmd = ProgramLocator.Find("trace-cmd");
            Assert.True(traceCmd is not null, "trace-cmd is installed on this host");
            // -k (keep): without it trace-cmd extract resets the top level too (tracing_on, every event and filter, the
            // buffer, the tracer) and removes the instance; a failed extract left tracing_on at 0. It still reads the
            // top-level buffer as well: the report's lines of the twin are the ones prefixed with its name.
            Run(traceCmd!, "extract", "-k", "-B", twin.Name, "-o", dat);
            var prefix = twin.Name + ": ";
            var report = string.Join('\n', Run(traceCmd!, "report", "-R", "-i", dat).Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal)));
            var tc = TextTraceLine.Parse(report, prefix);
            mismatches = TextTraceLine.ComparePerCpu(records, tc, 2_000_000, out fields);
            Assert.True(mismatches.Count == 0, "against trace-cmd report:\n" + string.Join("\n", mismatches));
            Assert.True(fields > records.Count);
        }
        finally
        {
            ours.Remove();
            twin.Remove();
            File.Delete(dat);
        }
    }

    private static string Run(string file, params string[] args)
    {
        var r = ProgramLocator.Run(file, args, TimeSpan.FromSeconds(60));
        Assert.True(r is not null, $"{file} {string.Join(' ', args)} did not finish");
        Assert.True(r!.Value.ExitCode == 0, $"{file} {string.Join(' ', args)}: exit {r.Value.ExitCode}\n{r.Value.StdErr}");
        return r.Value.StdOut;
    }
}
