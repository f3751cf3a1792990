using System.Collections;
using System.Management.Automation;
using KernelDebug.Bpf;

namespace KernelDebug.Commands;

/// <summary>
/// The one-shot case, like running a libbpf-tools binary: load the object, attach all its programs, stream its events
/// until -Count, -Duration or Ctrl+C, then detach and unload everything (also on errors and pipeline stops).
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "BpfObject", DefaultParameterSetName = "Path", SupportsShouldProcess = true)]
[OutputType(typeof(PSObject), typeof(BpfRawEvent))]
public sealed class InvokeBpfObjectCommand : PSCmdlet, IDisposable
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Path")]
    [Alias("FullName")]
    public string Path { get; set; } = "";

    [Parameter(Mandatory = true, ParameterSetName = "BuiltIn")]
    [ArgumentCompleter(typeof(BpfBuiltInCompleter))]
    public string BuiltIn { get; set; } = "";

    [Parameter]
    public Hashtable? Constant { get; set; }

    [Parameter]
    public string? Map { get; set; }

    [Parameter]
    public string? Type { get; set; }

    /// <summary>Only these programs are attached (all by default).</summary>
    [Parameter]
    [SupportsWildcards]
    public string[]? Program { get; set; }

    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long Count { get; set; }

    [Parameter]
    public TimeSpan? Duration { get; set; }

    private readonly BpfEventSession _session = new();
    private BpfObject? _object;

    protected override void ProcessRecord()
    {
        string what = ParameterSetName == "BuiltIn" ? BuiltIn : GetUnresolvedProviderPathFromPSPath(Path);
        if (!ShouldProcess(what, "Load, attach and stream the BPF object, then unload it")) return;
        try
        {
            var spec = ParameterSetName == "BuiltIn" ? BpfObjectSpec.BuiltIn(BuiltIn) : BpfObjectSpec.Read(what);
            _object = BpfObject.Load(spec, Constant);
            foreach (var w in _object.Warnings) WriteWarning(w);
            foreach (var p in _object.Programs)
            {
                if (Program is not null && !Program.Any(n => WildcardPattern.Get(n, WildcardOptions.IgnoreCase).IsMatch(p.Name))) continue;
                var a = BpfAttacher.Attach(p);
                WriteVerbose($"Attached {p.Name} to {a.Kind} {a.Target} ({a.Mechanism}).");
            }
            _session.Run(this, _object, Map, Type, Count, Duration);
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, what); }
        finally
        {
            _object?.Dispose();
            _object = null;
        }
    }

    protected override void StopProcessing() => _session.Cancel();

    public void Dispose()
    {
        _session.Cancel();
        _object?.Dispose();
    }
}
