using System.Management.Automation;
using KernelDebug.Syscall;

namespace KernelDebug.Commands;

/// <summary>strace -c as objects: calls, errors and time per syscall of a command or of running processes.</summary>
[Cmdlet(VerbsDiagnostic.Measure, "Syscall", DefaultParameterSetName = "Command")]
[OutputType(typeof(SyscallSummary))]
public sealed class MeasureSyscallCommand : SyscallTraceCommandBase
{
    protected override SyscallTraceOptions MakeOptions(HashSet<int>? syscalls, bool useSeccomp, IReadOnlyList<InjectionRule> inject) => new()
    {
        Syscalls = syscalls, FollowFork = FollowFork, Decode = false, Duration = Duration, UseSeccomp = useSeccomp, Inject = inject,
    };

    protected override void OnRecord(SyscallTraceRecord record) { }

    protected override void OnFinished(SyscallTracer tracer)
    {
        long total = tracer.Counts.Values.Sum(c => c.Ticks);
        foreach (var (nr, c) in tracer.Counts.OrderByDescending(k => k.Value.Ticks).ThenByDescending(k => k.Value.Calls))
        {
            var time = System.Diagnostics.Stopwatch.GetElapsedTime(0, c.Ticks);
            WriteObject(new SyscallSummary
            {
                Name = SyscallTable.NameOf(nr), Calls = c.Calls, Errors = c.Errors, TotalTime = time,
                AverageTime = c.Calls == 0 ? TimeSpan.Zero : time / c.Calls,
                Percent = total == 0 ? 0 : Math.Round(100.0 * c.Ticks / total, 2),
            });
        }
    }
}
