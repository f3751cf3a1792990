using System.Management.Automation;
using KernelDebug.Ftrace;

namespace KernelDebug.Commands.Ftrace;

/// <summary>
/// Sets which functions the function tracers trace (set_ftrace_filter), skip (-NoTrace), start graphs at
/// (-GraphFunction), or which processes they follow (-ProcessId). Globs are checked before they reach the kernel.
/// </summary>
[Cmdlet(VerbsCommon.Set, "FtraceFilter", SupportsShouldProcess = true, DefaultParameterSetName = "Function")]
public sealed class SetFtraceFilterCommand : FtraceCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Function")]
    [ArgumentCompleter(typeof(FunctionNameCompleter))]
    [SupportsWildcards]
    public string[] Function { get; set; } = Array.Empty<string>();

    [Parameter(ParameterSetName = "Function")]
    public SwitchParameter NoTrace { get; set; }

    [Parameter(ParameterSetName = "Function")]
    public SwitchParameter GraphFunction { get; set; }

    [Parameter(ParameterSetName = "Function")]
    public string? Module { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = "ProcessId")]
    [ValidateRange(0, int.MaxValue)]
    [ArgumentCompleter(typeof(ProcessIdCompleter))]
    public int[] ProcessId { get; set; } = Array.Empty<int>();

    /// <summary>Add to the file instead of replacing what it holds.</summary>
    [Parameter]
    public SwitchParameter Append { get; set; }

    [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance Instance { get; set; } = null!;

    protected override void ProcessRecord()
    {
        if (ParameterSetName == "ProcessId")
        {
            if (!ShouldProcess(Instance.Name, $"{(Append ? "Add" : "Set")} set_ftrace_pid {string.Join(" ", ProcessId)}")) return;
            Try(() => FunctionFilter.WritePids(Instance, ProcessId, Append));
            return;
        }
        var kind = (NoTrace.IsPresent, GraphFunction.IsPresent) switch
        {
            (true, true) => FtraceFilterKind.GraphNoTrace,
            (true, false) => FtraceFilterKind.NoTrace,
            (false, true) => FtraceFilterKind.GraphFunction,
            _ => FtraceFilterKind.Filter,
        };
        // Validate before asking: a glob that would turn into a command never gets as far as -WhatIf.
        Try(() => { foreach (var f in Function) FunctionFilter.ValidateGlob(f); if (Module is not null) FunctionFilter.ValidateModule(Module); });
        if (!ShouldProcess(Instance.Name, $"{(Append ? "Add to" : "Set")} {FunctionFilter.FileName(kind)}: {string.Join(" ", Function)}{(Module is null ? "" : $" in module {Module}")}")) return;
        Try(() => FunctionFilter.Write(Instance, kind, Function, Module, Append));
    }
}
