using System.Management.Automation;
using KernelDebug.Bpf;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Commands;

/// <summary>Runs a bpftrace program with JSON output and emits its printf lines, maps, histograms and stats as objects.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "Bpftrace", DefaultParameterSetName = "Expression")]
[OutputType(typeof(BpftraceText), typeof(BpftraceMap), typeof(BpftraceHistogram), typeof(BpftraceStats))]
public sealed class InvokeBpftraceCommand : TracingScriptCommand
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Expression")]
    [ValidateNotNullOrEmpty]
    public string Expression { get; set; } = "";

    /// <summary>The process to trace (-p): bpftrace resolves uprobe and USDT targets through it and ends when it exits.</summary>
    [Parameter]
    [Alias("Pid")]
    [ValidateRange(1, int.MaxValue)]
    [ArgumentCompleter(typeof(ProcessIdCompleter))]
    public int? ProcessId { get; set; }

    private readonly List<BpftraceDiagnostic> _notes = new();
    private bool _drained;

    protected override void EndProcessing()
    {
        try
        {
            var program = ProgramLocator.Find("bpftrace") ?? throw new KernelDebugException(
                "bpftrace is not installed (not on PATH).", "BpftraceNotFound", ErrorCategory.NotInstalled)
                { Remedy = "Install it: apt-get install bpftrace (Debian/Ubuntu) or dnf install bpftrace." };
            CheckedDuration();
            // bpftrace itself says only ": No such process" for a pid that does not exist.
            if (ProcessId is { } target && !Directory.Exists($"/proc/{target}"))
                throw new KernelDebugException($"There is no process with id {target}.", "ProcessNotFound", ErrorCategory.ObjectNotFound) { Target = target.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            var args = new List<string> { "-f", "json" };
            if (ProcessId is { } pid) args.AddRange(new[] { "-p", pid.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            args.AddRange(CommandOption());
            if (ParameterSetName == "Path") args.Add(ScriptFile("bpftrace program"));
            else args.AddRange(new[] { "-e", Expression });
            WriteVerbose($"{program} {string.Join(" ", args.Select(a => a.Contains(' ') ? $"'{a}'" : a))}");
            var parser = new BpftraceOutputParser();
            using var tool = new ToolProcess(program, args);
            // -Duration counts from when bpftrace says its probes are attached (it can take seconds to compile first).
            Run(tool, parser.ParseLine, Emit, line => line.Contains("\"attached_probes\"", StringComparison.Ordinal));
            foreach (var item in parser.Flush()) Emit(item);
            _drained = true;
            var stderr = BpftraceOutputParser.ParseStderr(tool.StandardError, Command is null ? -1 : tool.StandardErrorLinesWhenReady);
            var diagnostics = _notes.Concat(stderr).ToList();
            if (Failed(tool) && !diagnostics.Any(d => d.Level == "error"))
            {
                // bpftrace says some failures without an ERROR: prefix ("No probes to attach"): those lines are the reason.
                var why = string.Join(" ", diagnostics.Where(d => d.Level == "text").Select(d => d.Message));
                diagnostics.RemoveAll(d => d.Level == "text");
                this.WriteKernelError(new KernelDebugException($"bpftrace exited with code {tool.ExitCode}{(why.Length > 0 ? ": " + why : ".")}", "BpftraceFailed", ErrorCategory.InvalidOperation));
            }
            foreach (var d in diagnostics) Emit(d);
        }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e); }
    }

    private void Emit(object item)
    {
        switch (item)
        {
            case BpftraceDiagnostic { Level: "error" } d: this.WriteKernelError(d.ToException(), d); break;
            case BpftraceDiagnostic { Level: "text" } d when !_drained: _notes.Add(d); break;
            case BpftraceDiagnostic { Level: "warning" or "text" } d: WriteWarning($"bpftrace: {d.Message}"); break;
            // The traced command's own output goes to the host as Write-Host would put it (information stream, PSHOST tag).
            // Tagged stdout or stderr too, like the output every -Command cmdlet captures without a terminal.
            case BpftraceDiagnostic { Level: "output" } d: WriteInformation(new HostInformationMessage { Message = d.Message }, d.Stream is null ? new[] { "PSHOST" } : new[] { "PSHOST", d.Stream }); break;
            case BpftraceDiagnostic d: WriteVerbose($"bpftrace: {d.Message}"); break;
            default: WriteObject(item); break;
        }
    }
}
