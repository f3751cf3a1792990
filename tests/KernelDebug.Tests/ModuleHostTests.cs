using System.Management.Automation;
using System.Management.Automation.Runspaces;
using Xunit;

namespace KernelDebug.Tests;

/// <summary>Loads the built module (output/, named by KERNELDEBUG_MODULE_PATH) into an in-process PowerShell.</summary>
public sealed class ModuleFixture : IDisposable
{
    public ModuleFixture()
    {
        var path = Environment.GetEnvironmentVariable("KERNELDEBUG_MODULE_PATH");
        if (string.IsNullOrEmpty(path))
        {
            var root = AppContext.BaseDirectory;
            while (root is not null && !File.Exists(Path.Combine(root, "KernelDebug.psd1"))) root = Path.GetDirectoryName(root);
            path = root is null ? null : Directory.GetFiles(Path.Combine(root, "output", "KernelDebug"), "KernelDebug.psd1", SearchOption.AllDirectories).FirstOrDefault();
        }
        ModulePath = path ?? throw new InvalidOperationException("Build the module first (build.ps1 -Task Build): no output/KernelDebug/*/KernelDebug.psd1.");
        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule(new[] { ModulePath });
        Runspace = RunspaceFactory.CreateRunspace(iss);
        Runspace.Open();
    }

    public string ModulePath { get; }
    public Runspace Runspace { get; }

    public (List<PSObject> Output, List<ErrorRecord> Errors) Invoke(string script)
    {
        using var ps = PowerShell.Create();
        ps.Runspace = Runspace;
        ps.AddScript(script);
        var output = ps.Invoke().ToList();
        return (output, ps.Streams.Error.ToList());
    }

    public void Dispose() => Runspace.Dispose();
}

public class ModuleHostTests : IClassFixture<ModuleFixture>
{
    private readonly ModuleFixture _module;

    public ModuleHostTests(ModuleFixture module) => _module = module;

    [Fact]
    public void TheBuiltModuleExportsTypedCapabilities()
    {
        var (output, errors) = _module.Invoke("Get-KernelDebugCapability -Name TraceFs, Strace");
        Assert.Empty(errors);
        Assert.Equal(2, output.Count);
        var caps = output.Select(o => Assert.IsType<Capability>(o.BaseObject)).ToList();
        Assert.Equal(new[] { "TraceFs", "Strace" }, caps.Select(c => c.Name));
        Assert.All(caps, c => Assert.False(string.IsNullOrEmpty(c.Detail)));
    }

    [Fact]
    public void TheCapabilityTableViewIsLoaded()
    {
        var (output, _) = _module.Invoke("Get-KernelDebugCapability -Name TraceFs | Format-Table | Out-String -Width 200");
        var text = string.Concat(output.Select(o => o.ToString()));
        Assert.Matches(@"(?m)^Area\s+Name\s+Available\s+Detail", text);
        Assert.Matches(@"(?m)^ftrace\s+TraceFs\s+(True|False)", text);
        Assert.DoesNotContain("Remedy", text);
    }

    [Fact]
    public void HelpComesFromTheGeneratedMaml()
    {
        var (output, _) = _module.Invoke("(Get-Help Get-KernelDebugCapability).Synopsis");
        Assert.StartsWith("Reports which kernel debugging interfaces", output.Single().ToString());
    }
}
