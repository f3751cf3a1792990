using System.Management.Automation;
using KernelDebug.Syscall.LibraryCalls;

namespace KernelDebug.Commands;

/// <summary>ltrace -c as objects: calls and time per library function.</summary>
[Cmdlet(VerbsDiagnostic.Measure, "LibraryCall", DefaultParameterSetName = "Command")]
[OutputType(typeof(LibraryCallSummary))]
public sealed class MeasureLibraryCallCommand : LibraryCallCommandBase
{
    private LibraryCallTimer? _timer;

    protected override bool WantsArguments => false;

    protected override void OnStart(LibraryCallSession session, IReadOnlyList<(int Tid, int Tgid)> threads) => _timer = new LibraryCallTimer(session);

    protected override void OnRecord(TraceRecord record) => _timer!.Add(record);

    protected override void OnFinished() => WriteObject(_timer!.Summaries(), true);
}
