using System.Management.Automation;
using KernelDebug.Ftrace;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Commands.Ftrace;

/// <summary>
/// Saves trace records as a trace.dat that trace-cmd report and KernelShark read: records from the pipeline
/// (Receive-TraceEvent, Import-TraceDat), or a recording of -Event for -Duration in a private instance, whose
/// ring-buffer pages are saved as the kernel wrote them.
/// </summary>
[Cmdlet(VerbsData.Export, "TraceDat", SupportsShouldProcess = true, DefaultParameterSetName = InputSet)]
[OutputType(typeof(FileInfo))]
public sealed class ExportTraceDatCommand : FtraceCmdlet, IDisposable
{
    private const string InputSet = "InputObject", EventSet = "Event";

    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = InputSet)]
    public TraceRecord[] InputObject { get; set; } = Array.Empty<TraceRecord>();

    /// <summary>Events to record in a private instance ('system:event' globs).</summary>
    [Parameter(Mandatory = true, ParameterSetName = EventSet)]
    [ArgumentCompleter(typeof(TraceEventNameCompleter))]
    [SupportsWildcards]
    public string[] Event { get; set; } = Array.Empty<string>();

    [Parameter(ParameterSetName = EventSet)]
    public string? Filter { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = EventSet)]
    public TimeSpan Duration { get; set; }

    /// <summary>trace.dat format version: 6 (trace-cmd before 3.0 reads it) or 7.</summary>
    [Parameter]
    [ValidateSet("6", "7")]
    public int FileVersion { get; set; } = 6;

    /// <summary>Compression of a version 7 file's sections and pages.</summary>
    [Parameter]
    [ValidateSet("none", "zstd", "zlib")]
    public string Compression { get; set; } = "none";

    /// <summary>Do not replace an existing file.</summary>
    [Parameter]
    public SwitchParameter NoClobber { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    private string _target = "";
    private TraceDatWriter? _writer;
    private PrivateInstance? _private;
    private TraceStreamReader? _reader;
    private volatile bool _stopping;
    private bool _declined;
    private long _skipped;

    protected override void BeginProcessing()
    {
        _target = GetUnresolvedProviderPathFromPSPath(Path);
        if (FileVersion == 6 && Compression != "none")
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("Version 6 files are not compressed: add -FileVersion 7 to use -Compression."),
                "TraceDatCompression", ErrorCategory.InvalidArgument, Compression));
        if (NoClobber && File.Exists(_target))
            ThrowTerminatingError(new ErrorRecord(new IOException($"{_target} exists and -NoClobber was given."), "TraceDatExists", ErrorCategory.ResourceExists, _target));
        if (ParameterSetName == EventSet) this.SweepOrphans();
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == EventSet) { Record(); return; }
        if (_declined) return;
        if (_writer is null)
        {
            if (!ShouldProcess(_target, "Write trace.dat")) { _declined = true; return; }
            _writer = Try(() => NewWriter(null), _target);
        }
        foreach (var r in InputObject)
        {
            if (_stopping) return;
            try
            {
                var format = r.Format ?? TraceEventCatalog.GetFormat(r.System, r.Name);
                _writer.WriteRecord(r, format);
            }
            catch (Exception e) when (CmdletErrors.IsExpected(e))
            {
                // One record that cannot be encoded (parsed from text, an event this kernel lacks) does not stop the file.
                if (_skipped++ < 5) this.WriteKernelError(e, r);
            }
        }
    }

    /// <summary>A writer with this kernel's page layout where tracefs is readable, else the usual x86-64/arm64 one.</summary>
    private TraceDatWriter NewWriter(FtraceInstance? instance)
    {
        try { return TraceDatWriter.ForThisKernel(_target, instance); }
        catch (KernelDebugException) when (instance is null) { return new TraceDatWriter(_target, DefaultHeaderPage, DefaultHeaderEvent, 4096); }
    }

    private void Record()
    {
        var events = MatchEvents(Event);
        if (events.Count == 0) return;
        if (!ShouldProcess(_target, $"Record {events.Count} event(s) for {Duration} in a private instance and write trace.dat")) return;
        try
        {
            _private = Try(() => new PrivateInstance());
            var instance = _private.Instance;
            Try(() => instance.EnableEvents(events, Filter), Filter);
            _writer = Try(() => NewWriter(instance), _target);
            _writer.Clock = instance.Clock ?? "local";
            _writer.CpuCount = instance.Cpus.Count == 0 ? 1 : instance.Cpus.Max() + 1;
            foreach (var (system, name) in events) _writer.AddFormat(Try(() => TraceEventCatalog.GetFormat(system, name)));
            var writer = _writer;
            _reader = Try(() => new TraceStreamReader(instance));
            // The pages as the kernel wrote them; the decoded records are only counted.
            _reader.PageRead = (cpu, page) => writer.WritePage(cpu, page);
            WriteVerbose($"Recording {events.Count} event(s) in private instance {instance.Name} for {Duration}.");
            var progress = new CmdletProgress(this, "Export-TraceDat");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            long records = 0;
            using var cancel = new CancellationTokenSource();
            try
            {
                // The reader runs on this thread; Ctrl+C cancels through _stopping.
                _reader.Run(_ => { records++; return !_stopping; }, new TraceReadOptions { Duration = Duration }, cancel.Token,
                    () => progress.ReportTime(clock.Elapsed, Duration, () => $"{records} records, {writer.PagesWritten} pages"));
            }
            catch (Exception e) when (CmdletErrors.IsExpected(e)) { this.ThrowKernelError(e, instance); }
            finally { progress.Complete(); }
            if (_stopping) return;
            // Comms as trace-cmd saves them: the kernel's saved_cmdlines at the end of the recording.
            _writer.SavedCmdlines = ControlFile.TryReadText(System.IO.Path.Combine(KernelFileSystems.GetTraceFs(), "saved_cmdlines"), out _) ?? "";
            if (_reader.LostEvents > 0) WriteWarning($"The kernel lost {_reader.LostEvents} event(s) while recording; the file marks the pages where they are missing.");
            WriteVerbose($"{records} records in {writer.PagesWritten} pages.");
            Complete();
        }
        finally { Cleanup(); }
    }

    protected override void EndProcessing()
    {
        base.EndProcessing();
        if (ParameterSetName != InputSet || _writer is null || _stopping) { Cleanup(); return; }
        if (_skipped > 5) WriteWarning($"{_skipped} records could not be saved (errors shown for the first 5).");
        if (_writer.OutOfOrder > 0)
            WriteWarning($"{_writer.OutOfOrder} record(s) came before an earlier record of their CPU; they are saved at that record's time. Pipe records in time order (as Receive-TraceEvent and Import-TraceDat give them).");
        try { Complete(); }
        finally { Cleanup(); }
    }

    private void Complete()
    {
        var writer = _writer!;
        Try(() => writer.Complete(FileVersion, Compression == "none" ? null : Compression), _target);
        WriteVerbose($"Wrote {_target}: trace.dat version {FileVersion}, {writer.RecordsWritten + 0} records encoded, {writer.PagesWritten} pages.");
        if (PassThru) WriteObject(new FileInfo(_target));
    }

    protected override void StopProcessing() => _stopping = true;

    private void Cleanup()
    {
        _reader?.Dispose();
        _reader = null;
        _writer?.Dispose();
        _writer = null;
        _private?.Dispose();
        _private = null;
    }

    public void Dispose() => Cleanup();

    // The kernel's events/header_page and header_event on 64-bit machines: for writing without tracefs.
    private const string DefaultHeaderPage =
        "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n" +
        "\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n" +
        "\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n" +
        "\tfield: char data;\toffset:16;\tsize:4080;\tsigned:0;\n";

    private const string DefaultHeaderEvent =
        "# compressed entry header\n" +
        "\ttype_len    :    5 bits\n" +
        "\ttime_delta  :   27 bits\n" +
        "\tarray       :   32 bits\n\n" +
        "\tpadding     : type == 29\n" +
        "\ttime_extend : type == 30\n" +
        "\ttime_stamp : type == 31\n" +
        "\tdata max type_len  == 28\n";
}
