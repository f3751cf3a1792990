using System.Management.Automation;
using KernelDebug.Syscall.LibraryCalls;

namespace KernelDebug.Commands;

/// <summary>ltrace -c as objects: calls and time per library function.</summary>
[Cmdlet(VerbsDiagnostic.Measure, "LibraryCall", DefaultParameterSetName = "Command")]
[OutputType(typeof(LibraryCallSummary))]
public sealed class MeasureLibraryCallCommand : LibraryCallCommandBase
{
    private readonly LibraryCallAggregator _aggregator = new();

    protected override void OnCall(LibraryCall call) => _aggregator.Add(call);

    protected override void OnFinished() => WriteObject(_aggregator.Summaries(), true);
}
