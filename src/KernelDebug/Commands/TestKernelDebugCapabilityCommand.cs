using System.Management.Automation;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Commands;

/// <summary>True when every named capability is available: for Pester -Skip: conditions and runbook guards.</summary>
[Cmdlet(VerbsDiagnostic.Test, "KernelDebugCapability")]
[OutputType(typeof(bool))]
public sealed class TestKernelDebugCapabilityCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(CapabilityNameCompleter))]
    public string[] Name { get; set; } = Array.Empty<string>();

    private readonly List<string> _names = new();

    protected override void ProcessRecord() => _names.AddRange(Name);

    protected override void EndProcessing()
    {
        ThrowIfUnknown(this, _names);
        var results = CapabilityProbe.Run(_names.Distinct(StringComparer.OrdinalIgnoreCase), WriteVerbose).ToList();
        foreach (var c in results.Where(c => !c.Available)) WriteVerbose($"{c.Name}: {c.Detail}");
        WriteObject(results.All(c => c.Available));
    }

    /// <summary>A terminating CapabilityNotFound error naming the unknown names and the known ones.</summary>
    internal static void ThrowIfUnknown(PSCmdlet cmdlet, IEnumerable<string> names)
    {
        var unknown = names.Where(n => !CapabilityProbe.Names.Contains(n, StringComparer.OrdinalIgnoreCase)).ToList();
        if (unknown.Count > 0)
        {
            cmdlet.ThrowKernelError(new KernelDebugException($"Unknown capability name(s): {string.Join(", ", unknown)}. Known: {string.Join(", ", CapabilityProbe.Names)}.",
                "CapabilityNotFound", ErrorCategory.ObjectNotFound), unknown);
        }
    }
}
