using System.Management.Automation;
using KernelDebug.Syscall.LibraryCalls;

namespace KernelDebug.Commands;

/// <summary>ltrace as objects: each call of the chosen library functions by a command or running processes.</summary>
[Cmdlet(VerbsCommon.Get, "LibraryCallTrace", DefaultParameterSetName = "Command")]
[OutputType(typeof(LibraryCall))]
public sealed class GetLibraryCallTraceCommand : LibraryCallCommandBase
{
    private LibraryCallPairer? _pairer;

    protected override void OnStart(LibraryCallSession session, IReadOnlyList<(int Tid, int Tgid)> threads)
    {
        _pairer = new LibraryCallPairer(session);
        foreach (var (tid, tgid) in threads) _pairer.SetThreadGroup(tid, tgid);
    }

    protected override void OnRecord(TraceRecord record)
    {
        foreach (var call in _pairer!.Add(record)) WriteObject(call);
    }

    protected override void OnFinished()
    {
        foreach (var call in _pairer!.Flush()) WriteObject(call);
    }
}
