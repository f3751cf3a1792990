using System.Management.Automation;
using KernelDebug.Syscall;

namespace KernelDebug.Commands;

/// <summary>strace as objects: each syscall of a command or of running processes, decoded, plus signals and exits.</summary>
[Cmdlet(VerbsCommon.Get, "SyscallTrace", DefaultParameterSetName = "Command")]
[OutputType(typeof(SyscallEvent), typeof(SyscallSignal), typeof(SyscallProcessExit))]
public sealed class GetSyscallTraceCommand : SyscallTraceCommandBase
{
    [Parameter]
    public SwitchParameter FailedOnly { get; set; }

    [Parameter]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    [Parameter]
    [ValidateRange(0, 1 << 20)]
    public int MaxStringLength { get; set; } = 32;

    protected override SyscallTraceOptions MakeOptions(HashSet<int>? syscalls, bool useSeccomp) => new()
    {
        Syscalls = syscalls, FollowFork = FollowFork, FailedOnly = FailedOnly, MaxStringLength = MaxStringLength,
        Path = Path is null ? null : WildcardPattern.Get(Path, WildcardOptions.None), Duration = Duration, UseSeccomp = useSeccomp,
    };

    protected override void OnRecord(SyscallTraceRecord record) => WriteObject(record);
}
