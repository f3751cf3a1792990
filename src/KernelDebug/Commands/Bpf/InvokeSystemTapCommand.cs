using System.Management.Automation;
using KernelDebug.Bpf;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Commands;

/// <summary>Runs a SystemTap script up to a stage (1 parse … 5 run) and emits its output as objects and its compile errors as ErrorRecords.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "SystemTap", DefaultParameterSetName = "Script")]
[OutputType(typeof(SystemTapOutput))]
public sealed class InvokeSystemTapCommand : TracingScriptCommand
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Script")]
    [ValidateNotNullOrEmpty]
    public string Script { get; set; } = "";

    /// <summary>Stop after this pass: 1 parse, 2 elaborate, 3 translate to C, 4 compile the module, 5 run (default).</summary>
    [Parameter]
    [ValidateRange(1, 5)]
    public int Stage { get; set; } = 5;

    protected override void EndProcessing()
    {
        string? stub = null;
        try
        {
            var stap = ProgramLocator.Find("stap") ?? throw new KernelDebugException("SystemTap (stap) is not installed.", "SystemTapNotFound", ErrorCategory.NotInstalled)
                { Remedy = "Install it: apt-get install systemtap (Debian/Ubuntu) or dnf install systemtap." };
            CheckedDuration();
            var release = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
            // Parsing, elaboration and translation (stages 1-3) run on a stub build tree; compiling the module needs the headers.
            if (Stage >= 4 && !Directory.Exists($"/lib/modules/{release}/build"))
                throw new KernelDebugException($"SystemTap stage {Stage} needs the kernel headers for {release} (/lib/modules/{release}/build is missing); only stages 1-3 (parse, elaborate, translate) run without them.",
                    "SystemTapHeadersMissing", ErrorCategory.NotInstalled)
                    { Remedy = $"Install the headers and debug symbols of the running kernel (apt-get install linux-headers-{release} linux-image-{release}-dbg), or use -Stage 1 to 3. Get-KernelDebugCapability SystemTap says what is missing." };
            var args = new List<string> { $"-p{Stage}" };
            if (Stage <= 3 && (stub = SystemTapRunner.CreateParseOnlyBuildTree(release)) is not null) args.AddRange(new[] { "-r", stub });
            args.AddRange(CommandOption());
            if (ParameterSetName == "Path") args.Add(ScriptFile("SystemTap script"));
            else args.AddRange(new[] { "-e", Script });
            WriteVerbose($"{stap} {string.Join(" ", args)}");
            int stage = Stage;
            long line = 0;
            using var tool = new ToolProcess(stap, args);
            Run(tool, l => new object[] { new SystemTapOutput { Stage = stage, Line = ++line, Timestamp = DateTime.UtcNow, Text = l } }, WriteObject);
            var diagnostics = SystemTapRunner.ParseStderr(tool.StandardError, stub is not null).ToList();
            foreach (var d in diagnostics)
            {
                if (d.Level == "error") this.WriteKernelError(SystemTapRunner.ToException(d, stub is null ? null : release), d);
                else if (d.Level == "warning") WriteWarning($"stap: {d.Message}");
                else WriteVerbose($"stap: {d.Message}");
            }
            if (Failed(tool) && !diagnostics.Any(d => d.Level == "error"))
                this.WriteKernelError(new KernelDebugException($"stap exited with code {tool.ExitCode}.", "SystemTapFailed", ErrorCategory.InvalidOperation));
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e); }
        finally
        {
            if (stub is not null) try { Directory.Delete(stub, true); } catch (IOException) { }
        }
    }
}
