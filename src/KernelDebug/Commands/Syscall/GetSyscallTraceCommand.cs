using System.Management.Automation;
using KernelDebug.Syscall;

namespace KernelDebug.Commands;

/// <summary>strace as objects: each syscall of a command or of running processes, decoded, plus signals and exits.</summary>
[Cmdlet(VerbsCommon.Get, "SyscallTrace", DefaultParameterSetName = "Command")]
[OutputType(typeof(SyscallEvent), typeof(SyscallSignal), typeof(SyscallProcessExit))]
public sealed class GetSyscallTraceCommand : SyscallTraceCommandBase
{
    [Parameter]
    [Alias("Failed")]
    public SwitchParameter FailedOnly { get; set; }

    /// <summary>Only calls that succeeded (strace -z).</summary>
    [Parameter]
    [Alias("Successful")]
    public SwitchParameter SuccessfulOnly { get; set; }

    [Parameter]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    [Parameter]
    [Alias("StringLimit")]
    [ValidateRange(0, 1 << 20)]
    public int MaxStringLength { get; set; } = 32;

    /// <summary>strace -y: fd arguments and results with their path, socket or pipe. Ptrace engine only.</summary>
    [Parameter]
    public SwitchParameter DecodeFd { get; set; }

    /// <summary>strace -yy: as -DecodeFd, with socket addresses and device numbers. Ptrace engine only.</summary>
    [Parameter]
    public SwitchParameter DecodeFdDetail { get; set; }

    /// <summary>strace -k: the user stack of each call, by frame pointers. Ptrace engine only.</summary>
    [Parameter]
    public SwitchParameter StackTrace { get; set; }

    protected override SyscallTraceOptions MakeOptions(HashSet<int>? syscalls, bool useSeccomp, IReadOnlyList<InjectionRule> inject) => new()
    {
        Syscalls = syscalls, FollowFork = FollowFork, FailedOnly = FailedOnly, SuccessfulOnly = SuccessfulOnly, MaxStringLength = MaxStringLength,
        Path = Path is null ? null : WildcardPattern.Get(Path, WildcardOptions.None), Duration = Duration, UseSeccomp = useSeccomp,
        Inject = inject, StackTrace = StackTrace,
        DecodeFd = DecodeFdDetail ? FdDecoding.Detailed : DecodeFd ? FdDecoding.Path : FdDecoding.None,
    };

    protected override bool SupportsBpfEngine => true;

    protected override IEnumerable<string> PtraceOnlyOptions()
    {
        // The kernel captures at most 4 KiB per string or buffer.
        if (MaxStringLength > 4096) yield return "-MaxStringLength above 4096";
    }

    protected override void OnRecord(SyscallTraceRecord record) => WriteObject(record);
}
