using System.Collections;
using System.Management.Automation;
using KernelDebug.Bpf;

namespace KernelDebug.Commands;

/// <summary>
/// Loads a BPF ELF object (clang -target bpf) into the kernel: its maps, global data (with -Constant setting .rodata
/// variables first) and programs, CO-RE-relocated for the running kernel. Nothing is attached yet (Start-BpfProgram).
/// </summary>
[Cmdlet(VerbsData.Import, "BpfObject", DefaultParameterSetName = "Path", SupportsShouldProcess = true)]
[OutputType(typeof(BpfObject))]
public sealed class ImportBpfObjectCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "Path")]
    [Alias("FullName")]
    public string Path { get; set; } = "";

    /// <summary>One of the module's own programs, embedded in it (kd_events).</summary>
    [Parameter(Mandatory = true, ParameterSetName = "BuiltIn")]
    [ArgumentCompleter(typeof(BpfBuiltInCompleter))]
    public string BuiltIn { get; set; } = "";

    /// <summary>Global variables to set before load, by name (const volatile ones in .rodata, as libbpf skeletons do).</summary>
    [Parameter]
    public Hashtable? Constant { get; set; }

    /// <summary>The bpffs directory for maps the object marks LIBBPF_PIN_BY_NAME (libbpf's pin_root_path; default /sys/fs/bpf).</summary>
    [Parameter]
    public string? PinPath { get; set; }

    protected override void ProcessRecord()
    {
        string what = ParameterSetName == "BuiltIn" ? BuiltIn : GetUnresolvedProviderPathFromPSPath(Path);
        if (!ShouldProcess(what, "Load the BPF object's maps and programs into the kernel")) return;
        try
        {
            var spec = ParameterSetName == "BuiltIn" ? BpfObjectSpec.BuiltIn(BuiltIn) : BpfObjectSpec.Read(what);
            var pinRoot = PinPath is null ? null : GetUnresolvedProviderPathFromPSPath(PinPath);
            var obj = BpfObject.Load(spec, Constant, pinRoot);
            foreach (var m in obj.Maps.Where(m => m.PinPath is not null))
                WriteVerbose(m.PinReused ? $"Map {m.Name}: reused the map pinned at {m.PinPath}." : $"Map {m.Name}: pinned at {m.PinPath}.");
            foreach (var w in obj.Warnings) WriteWarning(w);
            WriteVerbose($"Loaded {obj.Name}: {obj.Programs.Count} program(s), {obj.Maps.Count} map(s), {obj.CoreRelocations} CO-RE relocation(s) in {obj.LoadTime.TotalMilliseconds:F0} ms.");
            WriteObject(obj);
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, what); }
    }
}

/// <summary>Completes the names of the module's built-in BPF programs.</summary>
public sealed class BpfBuiltInCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        System.Management.Automation.Language.CommandAst commandAst, IDictionary fakeBoundParameters) =>
        BpfObjectSpec.BuiltInNames.Where(n => n.StartsWith(wordToComplete, StringComparison.OrdinalIgnoreCase)).Select(n => new CompletionResult(n));
}
