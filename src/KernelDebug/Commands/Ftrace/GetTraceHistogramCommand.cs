using System.Management.Automation;
using KernelDebug.Ftrace;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Commands.Ftrace;

/// <summary>
/// Reads an event's hist file in an instance (or a saved copy, -Path) as TraceHistogram objects: one per hist
/// trigger, with a bucket per hash-table entry (keys typed by the event's fields), and the totals.
/// </summary>
[Cmdlet(VerbsCommon.Get, "TraceHistogram", DefaultParameterSetName = "Instance")]
[OutputType(typeof(TraceHistogram))]
public sealed class GetTraceHistogramCommand : FtraceCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = "Instance")]
    [FtraceInstanceTransformation]
    [ArgumentCompleter(typeof(FtraceInstanceNameCompleter))]
    public FtraceInstance Instance { get; set; } = null!;

    /// <summary>The event ('system:event'); with -Path, names the event whose format types the keys.</summary>
    [Parameter(Mandatory = true, Position = 1, ParameterSetName = "Instance")]
    [Parameter(ParameterSetName = "Path")]
    [ArgumentCompleter(typeof(TraceEventNameCompleter))]
    public string Event { get; set; } = "";

    /// <summary>A hist file's text saved earlier (cat events/.../hist > file).</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Path")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    protected override void ProcessRecord()
    {
        if (ParameterSetName == "Path")
        {
            var file = GetUnresolvedProviderPathFromPSPath(Path);
            string text;
            try { text = File.ReadAllText(file); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                ThrowTerminatingError(new ErrorRecord(e, "HistFileNotReadable", e is FileNotFoundException or DirectoryNotFoundException ? ErrorCategory.ObjectNotFound : ErrorCategory.ReadError, file));
                return;
            }
            var format = Event.Length == 0 ? null : Format(Event);
            foreach (var h in TraceHistogramParser.Parse(text, format)) WriteObject(h);
            return;
        }
        var ev = Format(Event);
        var path = Instance.FilePath(System.IO.Path.Combine("events", ev.System, ev.Name, "hist"));
        var content = ControlFile.TryReadText(path, out int errno);
        if (content is null)
        {
            var capability = CapabilityProbe.Run(new[] { "HistTriggers" }).FirstOrDefault();
            var ex = capability is { Available: false }
                ? new KernelDebugException($"This kernel has no hist triggers: {capability.Detail}", "HistTriggersMissing", ErrorCategory.NotImplemented) { Remedy = capability.Remedy ?? "Boot a kernel built with CONFIG_HIST_TRIGGERS." }
                : new KernelDebugException(errno, "open", path);
            this.ThrowKernelError(ex, Event);
            return;
        }
        foreach (var h in TraceHistogramParser.Parse(content, ev, Instance.Name)) WriteObject(h);
    }

    private TraceEventFormat Format(string name)
    {
        int colon = name.IndexOf(':');
        if (colon <= 0)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"'{name}' is not a system:event name."), "TraceEventNameInvalid", ErrorCategory.InvalidArgument, name));
        return Try(() => TraceEventCatalog.GetFormat(name[..colon], name[(colon + 1)..]), name);
    }
}
