using System.Globalization;
using System.Management.Automation;
using System.Text;
using KernelDebug.Ftrace;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug;

/// <summary>
/// A tracefs trace array: the top-level buffer ("/") or an instance under instances/. The object is a handle: its
/// methods act on the kernel; its state properties are a snapshot taken when it was made or by <see cref="Refresh"/>.
/// </summary>
public sealed class FtraceInstance
{
    /// <summary>The name that stands for the top-level buffer (no instance directory can be called "/").</summary>
    public const string TopLevelName = "/";

    private FtraceInstance(string name, string path)
    {
        Name = name;
        Path = path;
    }

    public string Name { get; }
    /// <summary>The instance directory in tracefs.</summary>
    public string Path { get; }
    public bool IsTopLevel => Name == TopLevelName;
    /// <summary>The pid in kerneldebug_&lt;pid&gt;_&lt;n&gt;: the session that made it for itself; null for other names.</summary>
    public int? OwnerProcessId => IsTopLevel ? null : Naming.OwnerProcessId(Name);

    // Snapshot of the state (Refresh).
    public string? CurrentTracer { get; private set; }
    public bool TracingOn { get; private set; }
    public int BufferSizeKb { get; private set; }
    public string? Clock { get; private set; }
    public ItemList<string> EnabledEvents { get; private set; } = ItemList<string>.Empty;

    public override string ToString() => Name;

    // ---- finding and making instances ----

    public static string InstancesDirectory => System.IO.Path.Combine(KernelFileSystems.GetTraceFs(), "instances");

    public static FtraceInstance TopLevel => new FtraceInstance(TopLevelName, KernelFileSystems.GetTraceFs()).Refresh();

    /// <summary>The instance of that name ("/" for the top level); ObjectNotFound when it does not exist.</summary>
    public static FtraceInstance Get(string name)
    {
        if (name == TopLevelName || name.Length == 0) return TopLevel;
        ValidateName(name);
        var path = System.IO.Path.Combine(InstancesDirectory, name);
        if (!DirectoryExists(path))
            throw new KernelDebugException($"There is no tracefs instance named '{name}'. Get-FtraceInstance lists them.",
                "FtraceInstanceNotFound", ErrorCategory.ObjectNotFound) { Target = name };
        return new FtraceInstance(name, path).Refresh();
    }

    /// <summary>The instances (and the top level first when asked), each with a state snapshot.</summary>
    public static IEnumerable<FtraceInstance> List(bool includeTopLevel = false)
    {
        if (includeTopLevel) yield return TopLevel;
        var dir = InstancesDirectory;
        if (!DirectoryExists(dir)) yield break;
        foreach (var d in Directory.EnumerateDirectories(dir).OrderBy(d => d, StringComparer.Ordinal))
        {
            FtraceInstance? i = null;
            try { i = new FtraceInstance(System.IO.Path.GetFileName(d), d).Refresh(); }
            catch (Exception e) when (e is KernelDebugException or IOException) { } // removed while listing
            if (i is not null) yield return i;
        }
    }

    /// <summary>Makes a new instance (mkdir). Without a name: kerneldebug_&lt;pid&gt;_&lt;n&gt; from Naming.</summary>
    public static FtraceInstance Create(string? name = null)
    {
        if (string.IsNullOrEmpty(name)) name = Naming.NewInstanceName();
        ValidateName(name);
        UserInput.EnsureName(name, "Name", "InvalidInstanceName", "tracefs instance name");
        var instances = InstancesDirectory;
        if (!DirectoryExists(instances))
            throw new KernelDebugException("This kernel has no tracefs instances directory.", "TraceInstancesNotSupported", ErrorCategory.NotImplemented)
            { Remedy = "Boot a kernel with CONFIG_TRACING 4.x or later; Get-KernelDebugCapability TraceInstances shows what is missing." };
        var path = System.IO.Path.Combine(instances, name);
        int r = Interop.mkdir(path, 0x1ED /* 0755 */);
        if (r < 0)
        {
            int errno = Errno.Last;
            if (errno == Errno.EEXIST)
                throw new KernelDebugException($"A tracefs instance named '{name}' already exists.", "FtraceInstanceExists", ErrorCategory.ResourceExists) { Target = name };
            throw new KernelDebugException(errno, "mkdir", path, "NewFtraceInstance." + Errno.Name(errno));
        }
        return new FtraceInstance(name, path).Refresh();
    }

    /// <summary>
    /// Whether a tracefs directory exists. Directory.Exists says false also when this process may not look (an
    /// unprivileged user on a tracefs of mode 0700): that is a permission problem, not a missing feature or instance.
    /// </summary>
    private static bool DirectoryExists(string path)
    {
        if (Interop.StatMode(path, out int errno) is { } mode) return (mode & Interop.S_IFMT) == Interop.S_IFDIR;
        if (errno is Errno.EACCES or Errno.EPERM)
            throw new KernelDebugException($"This process cannot read tracefs at {KernelFileSystems.GetTraceFs()} ({Errno.Name(errno)} on {path}).",
                "TraceFsAccessDenied", ErrorCategory.PermissionDenied) { Target = path, Remedy = "Run pwsh as root (sudo pwsh): tracefs is open to root only on this host." };
        return false;
    }

    /// <summary>Instance names are one directory name: no '/', no control characters, not "." or "..".</summary>
    public static void ValidateName(string name)
    {
        UserInput.EnsureSingleLine(name, "Name");
        if (name.Length == 0 || name == "." || name == ".." || name.Contains('/') || name.Any(char.IsWhiteSpace))
            throw new KernelDebugException($"'{name}' is not a valid tracefs instance name: use one directory name without '/' or spaces.",
                "InvalidInstanceName", ErrorCategory.InvalidArgument) { Target = name };
    }

    /// <summary>
    /// Removes the instance (rmdir; the kernel stops its tracing, disables its events and tracer as it goes). Nothing
    /// is switched off first: while a reader has its files open the kernel says EBUSY, and the instance must then be
    /// left recording as it was. EBUSY is retried briefly (our own reader's files may still be closing). The top level
    /// cannot be removed.
    /// </summary>
    public void Remove()
    {
        if (IsTopLevel)
            throw new KernelDebugException("The top-level trace buffer cannot be removed.", "CannotRemoveTopLevel", ErrorCategory.InvalidOperation) { Target = Name };
        if (!Directory.Exists(Path)) return;
        for (int attempt = 0; ; attempt++)
        {
            if (Interop.rmdir(Path) == 0) return;
            int errno = Errno.Last;
            if (errno == Errno.ENOENT) return;
            if (errno == Errno.EBUSY && attempt < 50) { Thread.Sleep(20); continue; }
            throw new KernelDebugException(errno, "rmdir", Path, "RemoveFtraceInstance." + Errno.Name(errno))
            {
                Remedy = errno == Errno.EBUSY ? "A process still has a file of this instance open (a trace_pipe reader, or a probe that uses it); its tracing was left as it was. Close it (end that session) and try again." : null,
            };
        }
    }

    /// <summary>Reads the state snapshot (tracer, tracing_on, buffer size, clock, enabled events) again.</summary>
    public FtraceInstance Refresh()
    {
        CurrentTracer = CurrentTracerLive();
        TracingOn = ReadOptional("tracing_on")?.Trim() == "1";
        BufferSizeKb = int.TryParse(ReadOptional("buffer_size_kb")?.Trim().Split(' ')[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var kb) ? kb : 0;
        Clock = ParseSelected(ReadOptional("trace_clock"));
        EnabledEvents = (ReadOptional("set_event") ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return this;
    }

    // ---- files ----

    public string FilePath(string relative) => System.IO.Path.Combine(Path, relative);

    public string ReadFile(string relative) => ControlFile.ReadText(FilePath(relative));

    /// <summary>The file's text, or null when it is missing or unreadable.</summary>
    public string? ReadOptional(string relative) => ControlFile.TryReadText(FilePath(relative), out _);

    /// <summary>One write of a value to a control file of this instance (O_APPEND).</summary>
    public void WriteValue(string relative, string value) => ControlFile.WriteValue(FilePath(relative), value);

    /// <summary>The word in [brackets] of a selection file (trace_clock, current options lists).</summary>
    internal static string? ParseSelected(string? text)
    {
        if (text is null) return null;
        int open = text.IndexOf('['), close = text.IndexOf(']');
        return open >= 0 && close > open ? text[(open + 1)..close] : text.Trim();
    }

    // ---- tracer, tracing_on, buffer, markers, clock ----

    public ItemList<string> AvailableTracers =>
        (ReadOptional("available_tracers") ?? "").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);

    public string? CurrentTracerLive() => ReadOptional("current_tracer")?.Trim();

    /// <summary>Sets current_tracer. The kernel's refusal (EINVAL for unknown, EPERM/ENODEV where a tracer is locked) is explained.</summary>
    public void SetTracer(string tracer)
    {
        UserInput.EnsureSingleLine(tracer, "Name");
        if (tracer.Any(char.IsWhiteSpace))
            throw new KernelDebugException($"'{tracer}' is not a tracer name.", "InvalidTracerName", ErrorCategory.InvalidArgument) { Target = tracer };
        var available = AvailableTracers;
        if (!available.Contains(tracer))
            throw new KernelDebugException($"The kernel has no tracer '{tracer}' in {Name}. Available: {string.Join(", ", available)}.",
                "TracerNotFound", ErrorCategory.ObjectNotFound) { Target = tracer };
        try { WriteValue("current_tracer", tracer); }
        catch (KernelDebugException e)
        {
            throw new KernelDebugException($"The kernel refused the {tracer} tracer in {Name}: {Errno.Message(e.Errno)} ({e.ErrnoName}).",
                "SetTracer." + e.ErrnoName, e.Category, e)
            {
                Target = tracer,
                Remedy = tracer.StartsWith("function", StringComparison.Ordinal)
                    ? "This kernel refuses the function tracers (locked down, or ftrace code patching unavailable). Get-KernelDebugCapability FunctionTracer shows why; boot a kernel built with CONFIG_FUNCTION_TRACER=y and CONFIG_DYNAMIC_FTRACE=y, without lockdown, to use them."
                    : e.Remedy,
            };
        }
    }

    public bool IsTracingOn() => ReadOptional("tracing_on")?.Trim() == "1";

    public void SetTracingOn(bool on) => WriteValue("tracing_on", on ? "1" : "0");

    /// <summary>Empties the ring buffer of this instance (opening trace with O_TRUNC is how the kernel is asked).</summary>
    public void ClearBuffer() => ControlFile.Truncate(FilePath("trace"));

    /// <summary>Writes one trace_marker message (the kernel records it as an ftrace:print event).</summary>
    public void WriteMarker(string message)
    {
        UserInput.EnsureSingleLine(message, "Message");
        using var fd = Interop.Open(FilePath("trace_marker"), Interop.O_WRONLY);
        var bytes = Encoding.UTF8.GetBytes(message);
        int written;
        try { written = Interop.Write(fd, bytes, FilePath("trace_marker")); }
        catch (KernelDebugException e) when (e.Errno == Errno.EBADF)
        {
            // The kernel answers EBADF when the ring buffer is off: nothing was recorded.
            throw new KernelDebugException($"Tracing is off in {Name}: the marker was not recorded (Start-Ftrace turns it on).",
                "TraceMarkerNotRecorded", ErrorCategory.InvalidOperation, e) { Target = Name };
        }
        // The kernel cuts a marker at its limit (about 4 KiB less the event header) and returns the count it kept.
        if (written < bytes.Length)
            throw new KernelDebugException($"The kernel recorded only the first {written} of the marker's {bytes.Length} bytes in {Name}: trace_marker takes at most {written} bytes per write on this kernel. Write the message in parts.",
                "TraceMarkerTruncated", ErrorCategory.LimitsExceeded) { Target = Name };
    }

    public void SetClock(string clock)
    {
        UserInput.EnsureSingleLine(clock, "Clock");
        var available = (ReadOptional("trace_clock") ?? "").Replace("[", "").Replace("]", "").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (!available.Contains(clock))
            throw new KernelDebugException($"The kernel has no trace clock '{clock}'. Available: {string.Join(", ", available)}.", "TraceClockNotFound", ErrorCategory.ObjectNotFound) { Target = clock };
        WriteValue("trace_clock", clock);
    }

    public void SetBufferSizeKb(int kilobytes) => WriteValue("buffer_size_kb", kilobytes.ToString(CultureInfo.InvariantCulture));

    /// <summary>Sets options/&lt;name&gt; (event-fork, record-tgid...).</summary>
    public void SetOption(string option, bool on) => WriteValue(System.IO.Path.Combine("options", option), on ? "1" : "0");

    /// <summary>Adds pids to set_event_pid (one write each, appended).</summary>
    public void AddEventPids(IEnumerable<int> pids)
    {
        foreach (var pid in pids) ControlFile.Append(FilePath("set_event_pid"), pid.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>The online CPUs with a per_cpu directory in this instance.</summary>
    public ItemList<int> Cpus =>
        Directory.EnumerateDirectories(FilePath("per_cpu"), "cpu*")
            .Select(d => int.TryParse(System.IO.Path.GetFileName(d)[3..], out var c) ? c : -1)
            .Where(c => c >= 0).OrderBy(c => c).ToList();

    // ---- events ----

    /// <summary>The events of this instance as TraceEventInfo (enable and filter read from this instance).</summary>
    public IEnumerable<TraceEventInfo> GetEvents(IEnumerable<string>? patterns = null)
    {
        var events = patterns is null ? TraceEventCatalog.List() : TraceEventCatalog.Match(patterns);
        foreach (var (system, name) in events)
        {
            // Another session's probe may vanish between the listing and the read of its format: skip it.
            TraceEventInfo info;
            try { info = GetEvent(system, name); }
            catch (KernelDebugException e) when (e.Category == ErrorCategory.ObjectNotFound) { continue; }
            yield return info;
        }
    }

    public TraceEventInfo GetEvent(string system, string name)
    {
        var format = TraceEventCatalog.GetFormat(system, name);
        var dir = FilePath(System.IO.Path.Combine("events", system, name));
        var enable = ControlFile.TryReadText(System.IO.Path.Combine(dir, "enable"), out _)?.Trim();
        var filter = ControlFile.TryReadText(System.IO.Path.Combine(dir, "filter"), out _)?.Trim();
        return new TraceEventInfo
        {
            System = system, Name = name, Id = format.Id, Instance = Name,
            Enabled = enable is not null && enable.StartsWith('1'),
            Filter = filter is null || filter == "none" ? null : filter,
            Fields = ItemList.Of(format.Fields), Format = format,
        };
    }

    /// <summary>
    /// Enables events, each with the filter when one is given. All filters are written first; if the kernel refuses
    /// one, every filter written here is put back and nothing is enabled, and the kernel's message and caret position
    /// are in the exception. Returns the events this call switched on (for an undo).
    /// </summary>
    public IReadOnlyList<(string System, string Name)> EnableEvents(IReadOnlyList<(string System, string Name)> events, string? filter)
    {
        var previousFilters = new List<((string System, string Name) Event, string? Previous)>();
        var enabled = new List<(string, string)>();
        // '' is no filter, as $null is (PowerShell passes $null to a string parameter as ''): the event's filter stays as it is.
        if (string.IsNullOrEmpty(filter)) filter = null;
        try
        {
            if (filter is not null)
            {
                UserInput.EnsureSingleLine(filter, "Filter");
                foreach (var e in events)
                {
                    previousFilters.Add((e, ReadEventFilter(e)));
                    WriteFilter(e, filter);
                }
            }
            foreach (var e in events)
            {
                var path = EventFile(e, "enable");
                if (!File.Exists(path))
                    throw new KernelDebugException($"The event {e.System}:{e.Name} cannot be enabled (it has no enable file; the ftrace system's events belong to tracers).",
                        "TraceEventNotEnableable", ErrorCategory.InvalidOperation) { Target = $"{e.System}:{e.Name}" };
                if (ControlFile.TryReadText(path, out _)?.Trim().StartsWith('1') == true) continue;
                ControlFile.WriteValue(path, "1");
                enabled.Add(e);
            }
            return enabled;
        }
        catch
        {
            foreach (var e in enabled) TryWriteFile(EventFile(e, "enable"), "0");
            foreach (var (e, previous) in previousFilters) RestoreFilter(e, previous);
            throw;
        }
    }

    /// <summary>Disables events; clears their filters too when asked. Events already off are left alone.</summary>
    public IReadOnlyList<(string System, string Name)> DisableEvents(IEnumerable<(string System, string Name)> events, bool clearFilter)
    {
        var changed = new List<(string, string)>();
        foreach (var e in events)
        {
            var enable = EventFile(e, "enable");
            if (!File.Exists(enable)) continue;
            if (ControlFile.TryReadText(enable, out _)?.Trim().StartsWith('0') != true)
            {
                ControlFile.WriteValue(enable, "0");
                changed.Add(e);
            }
            if (clearFilter)
            {
                var f = ControlFile.TryReadText(EventFile(e, "filter"), out _)?.Trim();
                if (f is not null && f != "none") ControlFile.WriteValue(EventFile(e, "filter"), "0");
            }
        }
        return changed;
    }

    /// <summary>Writes one event filter; on refusal reads the kernel's message and caret from the event's filter file (or error_log).</summary>
    public void WriteFilter((string System, string Name) e, string filter)
    {
        var path = EventFile(e, "filter");
        try { ControlFile.WriteValue(path, filter); }
        // Parse errors come as EINVAL, and as ESRCH (a missing quote) or EPERM: the kernel's parse_error tells them apart
        // from a real lack of permission.
        catch (KernelDebugException ex) when (ex.Errno is Errno.EINVAL or Errno.ESRCH or Errno.EPERM)
        {
            var (message, position) = FilterError.Read(ControlFile.TryReadText(path, out _), ReadOptional("error_log"), filter);
            if (message is null && ex.Errno != Errno.EINVAL) throw;
            // The failed filter stays in the file as an error text and turns filtering off: clear it.
            TryWriteFile(path, "0");
            var caret = position is int p ? $"{Environment.NewLine}  {filter}{Environment.NewLine}  {new string(' ', p)}^" : "";
            throw new KernelDebugException(
                $"The kernel refused the filter for {e.System}:{e.Name}: {message ?? "invalid filter"}{(position is int q ? $" (at position {q})" : "")}.{caret}",
                "TraceEventFilterInvalid", ErrorCategory.InvalidArgument, ex) { Target = filter, Position = position };
        }
    }

    /// <summary>The event's filter text as the kernel shows it ("none" when there is none), or null when unreadable.</summary>
    internal string? ReadEventFilter((string System, string Name) e) => ControlFile.TryReadText(EventFile(e, "filter"), out _)?.Trim();

    /// <summary>Puts back a filter read with ReadEventFilter; one that cannot be written back is cleared.</summary>
    internal void RestoreFilter((string System, string Name) e, string? previous)
    {
        var path = EventFile(e, "filter");
        if (previous is null || previous == "none" || previous.Contains('\n')) TryWriteFile(path, "0");
        else if (!TryWriteFile(path, previous)) TryWriteFile(path, "0");
    }

    /// <summary>Whether the event is enabled in this instance (its enable file reads 1, or X for some of a system).</summary>
    internal bool IsEventEnabled((string System, string Name) e) => ControlFile.TryReadText(EventFile(e, "enable"), out _)?.Trim().StartsWith('1') == true;

    private string EventFile((string System, string Name) e, string file) => FilePath(System.IO.Path.Combine("events", e.System, e.Name, file));

    private static bool TryWriteFile(string path, string value)
    {
        try { ControlFile.WriteValue(path, value); return true; }
        catch (KernelDebugException) { return false; }
    }
}

/// <summary>One trace event as Get-TraceEvent shows it: its format fields and its state in one instance.</summary>
public sealed class TraceEventInfo
{
    public string System { get; init; } = "";
    public string Name { get; init; } = "";
    public int Id { get; init; }
    public bool Enabled { get; init; }
    public string? Filter { get; init; }
    public ItemList<TraceEventField> Fields { get; init; } = ItemList<TraceEventField>.Empty;
    /// <summary>The instance the state was read from ("/" for the top level).</summary>
    public string Instance { get; init; } = FtraceInstance.TopLevelName;
    public TraceEventFormat? Format { get; init; }
    public string FullName => $"{System}:{Name}";
    public override string ToString() => FullName;
}
