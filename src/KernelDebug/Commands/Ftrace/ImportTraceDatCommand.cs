using System.Management.Automation;
using KernelDebug.Ftrace;

namespace KernelDebug.Commands.Ftrace;

/// <summary>
/// Reads trace-cmd's trace.dat files (versions 6 and 7, compressed or not, from this machine or another) as
/// TraceRecords, streaming: one page per CPU is held at a time. Records come in timestamp order, as trace-cmd report
/// prints them; records of an instance's buffer name it in their Instance property.
/// </summary>
[Cmdlet(VerbsData.Import, "TraceDat")]
[OutputType(typeof(TraceRecord))]
public sealed class ImportTraceDatCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PSPath")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>Buffers to read, by instance name ('/' the top level); all of them when omitted.</summary>
    [Parameter]
    [SupportsWildcards]
    public string[]? Instance { get; set; }

    /// <summary>Events to keep: 'system:event' globs, or an event or system name (as trace-cmd's -e takes them).</summary>
    [Parameter]
    [SupportsWildcards]
    public string[]? Event { get; set; }

    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long Count { get; set; }

    private volatile bool _stopping;
    private long _written;

    protected override void BeginProcessing() => TraceRecordTypeData.Ensure(this);

    protected override void ProcessRecord()
    {
        foreach (var p in Path)
        {
            List<string> files;
            try
            {
                files = WildcardPattern.ContainsWildcardCharacters(p)
                    ? SessionState.Path.GetResolvedProviderPathFromPSPath(p, out _).ToList()
                    : new List<string> { SessionState.Path.GetUnresolvedProviderPathFromPSPath(p) };
            }
            catch (ItemNotFoundException e)
            {
                WriteError(new ErrorRecord(e, "TraceDatNotFound", ErrorCategory.ObjectNotFound, p));
                continue;
            }
            foreach (var file in files)
            {
                if (_stopping || (Count > 0 && _written >= Count)) return;
                Read(file);
            }
        }
    }

    private void Read(string file)
    {
        TraceDatReader reader;
        try { reader = new TraceDatReader(file); }
        catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, file); return; }
        using (reader)
        {
            var buffers = reader.Buffers.Where(b => !b.IsLatency && Wanted(b)).ToList();
            if (Instance is not null && buffers.Count == 0)
            {
                WriteError(new ErrorRecord(new ItemNotFoundException(
                    $"{file} has no buffer named {string.Join(", ", Instance)}; it has {string.Join(", ", reader.Buffers.Select(b => b.Name.Length == 0 ? FtraceInstance.TopLevelName : b.Name))}."),
                    "TraceDatBufferNotFound", ErrorCategory.ObjectNotFound, file));
                return;
            }
            foreach (var b in reader.Buffers.Where(b => b.IsLatency && Wanted(b)))
                WriteWarning($"{file}: the buffer {(b.Name.Length == 0 ? FtraceInstance.TopLevelName : b.Name)} holds a latency tracer's text, not pages; it is skipped.");
            var keep = EventFilter(reader);
            WriteVerbose($"{file}: trace.dat version {reader.FileVersion}{(reader.Info.Compression is { } c ? $" ({c})" : "")}, {buffers.Count} buffer(s), {reader.Formats.Count} event formats.");
            try
            {
                foreach (var r in reader.ReadRecords(buffers))
                {
                    if (_stopping) return;
                    if (keep is not null && !keep.Contains(r.EventId)) continue;
                    WriteObject(r);
                    if (Count > 0 && ++_written >= Count) return;
                }
            }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.WriteKernelError(e, file); }
            if (reader.UnknownEvents > 0)
                WriteWarning($"{file}: {reader.UnknownEvents} record(s) have an event id with no format in the file; they are skipped.");
        }
    }

    private bool Wanted(TraceDatBuffer b)
    {
        if (Instance is null) return true;
        var name = b.Name.Length == 0 ? FtraceInstance.TopLevelName : b.Name;
        return Instance.Any(i => WildcardPattern.Get(i, WildcardOptions.IgnoreCase).IsMatch(name));
    }

    /// <summary>The ids of the file's events that -Event names (null: all).</summary>
    private HashSet<int>? EventFilter(TraceDatReader reader)
    {
        if (Event is null) return null;
        var ids = new HashSet<int>();
        foreach (var pattern in Event)
        {
            int colon = pattern.IndexOf(':');
            var sys = WildcardPattern.Get(colon >= 0 ? (colon == 0 ? "*" : pattern[..colon]) : pattern, WildcardOptions.IgnoreCase);
            var ev = WildcardPattern.Get(colon >= 0 ? (pattern.Length == colon + 1 ? "*" : pattern[(colon + 1)..]) : pattern, WildcardOptions.IgnoreCase);
            int before = ids.Count;
            foreach (var f in reader.Formats.Values)
                if (colon >= 0 ? sys.IsMatch(f.System) && ev.IsMatch(f.Name) : sys.IsMatch(f.System) || ev.IsMatch(f.Name))
                    ids.Add(f.Id);
            if (ids.Count == before && !WildcardPattern.ContainsWildcardCharacters(pattern))
                WriteWarning($"{reader.Path} has no event '{pattern}'.");
        }
        return ids;
    }

    protected override void StopProcessing() => _stopping = true;
}
