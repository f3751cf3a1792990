using System.Management.Automation;
using KernelDebug.Perf;

namespace KernelDebug.Commands;

/// <summary>perf annotate: a symbol's samples per instruction, with its disassembly and source lines.</summary>
[Cmdlet(VerbsCommon.Get, "PerfAnnotation", DefaultParameterSetName = PathSet)]
[OutputType(typeof(PerfAnnotatedInstruction))]
public sealed class GetPerfAnnotationCommand : PSCmdlet
{
    private const string PathSet = "Path", InputSet = "InputObject";

    [Parameter(Position = 1, ParameterSetName = PathSet)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "perf.data";

    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Symbol { get; set; } = string.Empty;

    /// <summary>Only this event (perf's name, with or without its modifiers: cpu-clock or cpu-clock:ppp).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Event { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = InputSet, ValueFromPipeline = true)]
    public PerfSample[] InputObject { get; set; } = Array.Empty<PerfSample>();

    private readonly List<PerfSample> _input = new();
    private readonly CancellationTokenSource _cancel = new();

    protected override void ProcessRecord()
    {
        if (ParameterSetName == InputSet) _input.AddRange(InputObject.Where(s => string.Equals(s.Symbol, Symbol, StringComparison.Ordinal)));
    }

    protected override void EndProcessing()
    {
        string target = ParameterSetName == InputSet ? Symbol : GetUnresolvedProviderPathFromPSPath(Path);
        try
        {
            List<PerfAnnotatedInstruction> rows;
            if (ParameterSetName == InputSet) rows = PerfAnnotator.Annotate(_input, Symbol, Event, _cancel.Token);
            else
            {
                using var file = PerfDataFile.Open(target, _cancel.Token);
                var decoder = new PerfDataDecoder(file);
                var progress = new CmdletProgress(this, $"Reading {target}");
                try { rows = PerfAnnotator.Annotate(PerfDataProgress.Track(decoder.Samples(_cancel.Token), progress, file, decoder), Symbol, Event, _cancel.Token); }
                finally { progress.Complete(); }
                foreach (var w in decoder.Warnings) WriteWarning(w);
            }
            if (rows.Count == 0)
            {
                WriteError(new ErrorRecord(new ItemNotFoundException($"No sample hit the symbol '{Symbol}'{(Event is null ? string.Empty : $" for the event '{Event}'")}. Get-PerfReport lists the sampled symbols."),
                    "PerfSymbolNotSampled", ErrorCategory.ObjectNotFound, Symbol));
                return;
            }
            foreach (var r in rows) WriteObject(r);
        }
        catch (OperationCanceledException) { }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, target); }
    }

    protected override void StopProcessing() => _cancel.Cancel();
}
