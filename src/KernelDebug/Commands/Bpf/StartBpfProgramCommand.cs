using System.Management.Automation;
using KernelDebug.Bpf;

namespace KernelDebug.Commands;

/// <summary>Attaches loaded programs where their sections say (or -Target): tracepoints, raw tracepoints, uprobes, kprobes, perf events.</summary>
[Cmdlet(VerbsLifecycle.Start, "BpfProgram", DefaultParameterSetName = "Program", SupportsShouldProcess = true)]
[OutputType(typeof(BpfAttachment))]
public sealed class StartBpfProgramCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = "Program")]
    public BpfObjectProgram[] Program { get; set; } = Array.Empty<BpfObjectProgram>();

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = "Object")]
    public BpfObject Object { get; set; } = null!;

    /// <summary>With -Object: only these programs (all by default).</summary>
    [Parameter(ParameterSetName = "Object")]
    [SupportsWildcards]
    public string[]? Name { get; set; }

    /// <summary>Where to attach instead of the section's target: category/name, a raw tracepoint, a function, path:symbol.</summary>
    [Parameter]
    public string? Target { get; set; }

    /// <summary>uprobes: only in this process.</summary>
    [Parameter]
    [Alias("Pid")]
    [ArgumentCompleter(typeof(ProcessIdCompleter))]
    public int ProcessId { get; set; } = -1;

    /// <summary>perf_event programs: samples per second per CPU.</summary>
    [Parameter]
    [ValidateRange(1, 100000)]
    public ulong Frequency { get; set; } = 99;

    protected override void ProcessRecord()
    {
        IEnumerable<BpfObjectProgram> programs = ParameterSetName == "Object"
            ? Object.Programs.Where(p => Name is null || Name.Any(n => WildcardPattern.Get(n, WildcardOptions.IgnoreCase).IsMatch(p.Name)))
            : Program;
        foreach (var p in programs)
        {
            string target = Target ?? p.AttachTarget;
            if (!ShouldProcess($"{p.ObjectName}/{p.Name}", $"Attach to {p.AttachKind} {target}")) continue;
            try
            {
                WriteObject(BpfAttacher.Attach(p, new BpfAttachOptions { Target = Target, ProcessId = ProcessId, Frequency = Frequency }));
            }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, p); }
        }
    }
}
