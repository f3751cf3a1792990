using System.Management.Automation;
using KernelDebug.Perf;

namespace KernelDebug.Commands;

/// <summary>The recordings started in this session by Start-PerfRecord: running and ended, with their state, file, and sample and loss counts.</summary>
[Cmdlet(VerbsCommon.Get, "PerfRecord", DefaultParameterSetName = "All")]
[OutputType(typeof(PerfRecording))]
public sealed class GetPerfRecordCommand : PSCmdlet
{
    [Parameter(Position = 0, ParameterSetName = "Id", ValueFromPipelineByPropertyName = true)]
    public int[]? Id { get; set; }

    [Parameter]
    public PerfRecordingState[]? State { get; set; }

    protected override void ProcessRecord()
    {
        var all = PerfRecorder.Session;
        IEnumerable<PerfRecording> selected = all;
        if (Id is not null)
        {
            var byId = all.ToDictionary(r => r.Id);
            var found = new List<PerfRecording>();
            foreach (var id in Id)
            {
                if (byId.TryGetValue(id, out var r)) found.Add(r);
                else WriteError(new ErrorRecord(new ItemNotFoundException($"No recording with id {id} was started in this session."), "PerfRecordingNotFound", ErrorCategory.ObjectNotFound, id));
            }
            selected = found;
        }
        if (State is { Length: > 0 }) selected = selected.Where(r => State.Contains(r.State));
        foreach (var r in selected) WriteObject(r);
    }
}
