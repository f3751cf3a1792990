using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using KernelDebug.Commands.Ftrace;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Commands;

/// <summary>
/// Runs the module's Pester health-check suite (KernelDebug.HealthCheck.Tests.ps1 in the module folder) and returns one
/// result per test. Pester 5 must be installed; the module does not need it to load.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "KernelDebugHealthCheck")]
[OutputType(typeof(HealthCheckResult))]
public sealed class InvokeKernelDebugHealthCheckCommand : PSCmdlet
{
    internal const string SuiteFile = "KernelDebug.HealthCheck.Tests.ps1";
    private static readonly string[] Checks = { "MemoryReports", "Leftovers", "LostEvents", "Capabilities" };

    /// <summary>The checks to run (Pester tags of the suite); all by default.</summary>
    [Parameter(Position = 0)]
    [ValidateSet("MemoryReports", "Leftovers", "LostEvents", "Capabilities", IgnoreCase = true)]
    public string[] Check { get; set; } = Checks;

    /// <summary>The capabilities the runbook needs (Get-KernelDebugCapability names); each missing one fails.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(CapabilityNameCompleter))]
    public string[] RequiredCapability { get; set; } = Array.Empty<string>();

    /// <summary>The tracefs instances the runbook recorded into (still present); any overwritten or dropped event fails.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public string[] Instance { get; set; } = Array.Empty<string>();

    /// <summary>A memory check whose detector is missing fails instead of being skipped.</summary>
    [Parameter]
    public SwitchParameter RequireDetector { get; set; }

    /// <summary>Also write Pester's test result file here (for CI), in -OutputFormat.</summary>
    [Parameter]
    public string? OutputPath { get; set; }

    [Parameter]
    [ValidateSet("NUnitXml", "NUnit2.5", "NUnit3", "JUnitXml")]
    public string OutputFormat { get; set; } = "NUnitXml";

    private PowerShell? _ps;

    protected override void EndProcessing()
    {
        TestKernelDebugCapabilityCommand.ThrowIfUnknown(this, RequiredCapability);

        var moduleBase = MyInvocation.MyCommand.Module?.ModuleBase ?? Path.GetDirectoryName(typeof(InvokeKernelDebugHealthCheckCommand).Assembly.Location)!;
        var suite = Path.Combine(moduleBase, SuiteFile);
        var pester = FindPester();
        string? output = OutputPath is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(OutputPath);

        // A runspace of its own: Pester keeps its state in its module, so a run inside the caller's Invoke-Pester (or
        // beside the caller's Pester) must not share it. The suite imports this module from the same folder.
        using var runspace = RunspaceFactory.CreateRunspace(InitialSessionState.CreateDefault2());
        runspace.Open();
        runspace.SessionStateProxy.Path.SetLocation(SessionState.Path.CurrentFileSystemLocation.ProviderPath);
        _ps = PowerShell.Create();
        _ps.Runspace = runspace;
        var data = new Hashtable
        {
            ["ModulePath"] = Path.Combine(moduleBase, "KernelDebug.psd1"),
            ["RequiredCapability"] = RequiredCapability,
            ["Instance"] = Instance,
            ["RequireDetector"] = RequireDetector.IsPresent,
        };
        _ps.AddScript(RunScript).AddArgument(pester).AddArgument(suite).AddArgument(data)
            .AddArgument(Check.Distinct(StringComparer.OrdinalIgnoreCase).ToArray()).AddArgument(output).AddArgument(OutputFormat);
        var computer = Environment.MachineName;
        try
        {
            foreach (var t in _ps.Invoke())
            {
                var p = t.Properties;
                WriteObject(new HealthCheckResult
                {
                    ComputerName = computer,
                    Check = p["Check"].Value?.ToString() ?? string.Empty,
                    Name = p["Name"].Value?.ToString() ?? string.Empty,
                    Result = Enum.TryParse<HealthCheckOutcome>(p["Result"].Value?.ToString(), out var r) ? r : HealthCheckOutcome.NotRun,
                    Reason = p["Reason"].Value?.ToString() ?? string.Empty,
                    Duration = p["Duration"].Value is TimeSpan d ? d : TimeSpan.Zero,
                });
            }
            foreach (var e in _ps.Streams.Error) WriteError(e);
        }
        catch (RuntimeException e)
        {
            ThrowTerminatingError(new ErrorRecord(e, "HealthCheckRunFailed", ErrorCategory.InvalidResult, suite));
        }
        finally { _ps.Dispose(); _ps = null; }
    }

    protected override void StopProcessing() => _ps?.Stop();

    /// <summary>The path of a loaded Pester 5 module, else of the newest installed one; a terminating error when there is none.</summary>
    private string FindPester()
    {
        var loaded = InvokeCommand.InvokeScript("Get-Module Pester | Where-Object { $_.Version.Major -ge 5 } | Sort-Object Version -Descending | Select-Object -First 1 | ForEach-Object { $m = Join-Path $_.ModuleBase Pester.psd1; if (Test-Path $m) { $m } else { $_.Path } }");
        if (loaded.Count > 0 && loaded[0]?.BaseObject is string l) return l;
        var installed = InvokeCommand.InvokeScript("Get-Module Pester -ListAvailable | Where-Object { $_.Version.Major -ge 5 } | Sort-Object Version -Descending | Select-Object -First 1 -ExpandProperty Path");
        if (installed.Count > 0 && installed[0]?.BaseObject is string i) return i;
        this.ThrowKernelError(new KernelDebugException("Invoke-KernelDebugHealthCheck runs Pester 5 or later, which is neither loaded nor installed.",
            "PesterNotFound", ErrorCategory.ObjectNotFound) { Remedy = "Install-PSResource Pester (or Install-Module Pester -MinimumVersion 5.0), or Import-Module a Pester 5 first." });
        return string.Empty;
    }

    // Runs the suite quietly and flattens Pester's result: one object per test, with the reason of a failure or skip.
    private const string RunScript = """
        param($PesterPath, $Suite, $Data, $Tags, $OutputPath, $OutputFormat)
        $ErrorActionPreference = 'Stop'
        Import-Module $PesterPath
        $c = New-PesterConfiguration
        $c.Run.Container = New-PesterContainer -Path $Suite -Data $Data
        $c.Run.PassThru = $true
        $c.Output.Verbosity = 'None'
        $c.Filter.Tag = $Tags
        if ($OutputPath) {
            $c.TestResult.Enabled = $true
            $c.TestResult.OutputPath = $OutputPath
            $c.TestResult.OutputFormat = $OutputFormat
        }
        $run = Invoke-Pester -Configuration $c
        foreach ($t in $run.Tests | Where-Object ShouldRun) {
            $reason = if ($t.ErrorRecord.Count) { ($t.ErrorRecord | ForEach-Object { $_.Exception.Message }) -join '; ' } else { '' }
            [pscustomobject]@{
                Check    = ($t.Tag | Select-Object -First 1) ?? $t.Block.Tag[0]
                Name     = $t.ExpandedName
                Result   = "$($t.Result)"
                Reason   = $reason -replace '^is skipped, because ', ''
                Duration = $t.Duration
            }
        }
        # A suite that could not run (a container or block setup failed) says why as errors.
        foreach ($b in @($run.Containers) + @($run.FailedBlocks)) {
            if ($b.Result -eq 'Failed') { foreach ($e in $b.ErrorRecord) { Write-Error -ErrorRecord $e -ErrorAction Continue } }
        }
        """;
}
