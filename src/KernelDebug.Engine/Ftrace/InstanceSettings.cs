using System.Globalization;
using System.Text.Json;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Ftrace;

/// <summary>
/// What a recording changes in an instance it does not own (the top level, or one the user made), saved before the
/// change and put back on Dispose: tracer, tracing_on, clock, buffer size, the fork options, the pid and function
/// filter files, and the filters and enable state of events. Private instances need none of this; they are removed.
/// </summary>
public sealed class InstanceSettings : IDisposable
{
    private readonly FtraceInstance _instance;
    private readonly List<(string File, string Value)> _values = new();
    private readonly List<(string File, IReadOnlyList<string> Lines)> _lists = new();
    private readonly List<((string System, string Name) Event, string? Filter)> _eventFilters = new();
    private readonly List<(string System, string Name)> _enabledHere = new();
    private bool _restored;
    private string? _statePath;
    private readonly IDisposable _hook;

    public InstanceSettings(FtraceInstance instance)
    {
        _instance = instance;
        // Put back also when the process ends without Dispose (SIGTERM, SIGHUP, Exit).
        _hook = ShutdownHooks.Add(ShutdownHooks.StageRestore, () => Dispose());
    }

    /// <summary>
    /// Keeps the saved settings in a file too, written before each change, so a session killed before its Dispose
    /// leaves what the next holder of the instance's lock (or the orphan sweep) needs to put them back.
    /// </summary>
    /// <returns>Null, or why the settings cannot be kept in a file (a read-only /run): the run goes on without it.</returns>
    public string? PersistTo(string path)
    {
        _statePath = path;
        try { Persist(); return null; }
        catch (KernelDebugException e)
        {
            _statePath = null;
            return e.Message;
        }
    }

    private sealed class State
    {
        public string Instance { get; set; } = "";
        public int ProcessId { get; set; }
        public List<string[]> Values { get; set; } = new();
        public List<ListState> Lists { get; set; } = new();
        public List<string?[]> Filters { get; set; } = new();
        public List<string[]> Enabled { get; set; } = new();
    }

    private sealed class ListState
    {
        public string File { get; set; } = "";
        public List<string> Lines { get; set; } = new();
    }

    private void Persist(IEnumerable<(string System, string Name)>? planned = null)
    {
        if (_statePath is null) return;
        var state = new State
        {
            Instance = _instance.Name,
            ProcessId = Environment.ProcessId,
            Values = _values.Select(v => new[] { v.File, v.Value }).ToList(),
            Lists = _lists.Select(l => new ListState { File = l.File, Lines = l.Lines.ToList() }).ToList(),
            Filters = _eventFilters.Select(f => new string?[] { f.Event.System, f.Event.Name, f.Filter }).ToList(),
            Enabled = _enabledHere.Concat(planned ?? Array.Empty<(string, string)>()).Select(e => new[] { e.System, e.Name }).ToList(),
        };
        InstanceLock.EnsureStateDirectory();
        // A new file renamed over the old one: a kill mid-write leaves the previous state whole.
        var temp = $"{_statePath}.{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}.tmp";
        try
        {
            File.WriteAllText(temp, JsonSerializer.Serialize(state));
            File.Move(temp, _statePath, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            InstanceLock.TryDelete(temp);
            throw new KernelDebugException($"Could not save the settings of {_instance.Name} to {_statePath}: {e.Message}", "InstanceStateNotSaved",
                System.Management.Automation.ErrorCategory.WriteError, e) { Target = _statePath };
        }
    }

    /// <summary>The settings a session saved in a state file (and its pid), ready to be put back by Dispose; null when there is no readable file.</summary>
    internal static (InstanceSettings Settings, int ProcessId)? Load(FtraceInstance instance, string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        State? state;
        try { state = JsonSerializer.Deserialize<State>(text); }
        catch (JsonException) { InstanceLock.TryDelete(path); return null; }
        if (state is null || state.Instance != instance.Name) return null;
        var s = new InstanceSettings(instance) { _statePath = path };
        foreach (var v in state.Values) if (v is { Length: 2 }) s._values.Add((v[0], v[1]));
        foreach (var l in state.Lists) s._lists.Add((l.File, l.Lines));
        foreach (var f in state.Filters) if (f is { Length: 3 } && f[0] is { } sys && f[1] is { } name) s._eventFilters.Add(((sys, name), f[2]));
        foreach (var e in state.Enabled) if (e is { Length: 2 }) s._enabledHere.Add((e[0], e[1]));
        return (s, state.ProcessId);
    }

    /// <summary>Saves a single-value control file (current_tracer, tracing_on, options/..., trace_clock, buffer_size_kb).</summary>
    public void SaveValue(string file)
    {
        var value = ReadValue(file);
        if (!string.IsNullOrEmpty(value)) _values.Add((file, value));
        Persist();
    }

    // The value as it would be written back: trace_clock's [selected] word, buffer_size_kb without "(expanded: ...)".
    private string? ReadValue(string file) => _instance.ReadOptional(file) is not { } text ? null
        : file == "trace_clock" ? FtraceInstance.ParseSelected(text) : text.Trim().Split(' ')[0];

    /// <summary>
    /// Saves a list file (set_event_pid, set_ftrace_pid, set_ftrace_filter, set_graph_function) so it can be emptied
    /// and written again entry by entry. Function filters holding commands (func:traceoff...) cannot be written back
    /// the way they read, so they are refused here, before anything changed.
    /// </summary>
    public void SaveList(string file)
    {
        var text = _instance.ReadOptional(file);
        if (text is null) return;
        var lines = new List<string>();
        foreach (var raw in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (raw.StartsWith('#') || raw == "no pid") continue;
            int sp = raw.IndexOf(' ');
            if (sp > 0 && raw[(sp + 1)..].Trim() is var mod && mod.StartsWith('[') && mod.EndsWith(']'))
                lines.Add($"{raw[..sp]}:mod:{mod[1..^1]}");
            else if (raw.Contains(':') || raw.Contains(' '))
                throw new KernelDebugException($"{file} of {_instance.Name} holds '{raw}', which cannot be restored once changed. Record in a private instance (leave out -Instance), or clear it first.",
                    "InstanceSettingNotRestorable", System.Management.Automation.ErrorCategory.ResourceBusy) { Target = _instance.Name };
            else lines.Add(raw);
        }
        _lists.Add((file, lines));
        Persist();
    }

    /// <summary>Enables events with an optional filter, remembering the filters it replaced and the events it switched on.</summary>
    public void EnableEvents(IReadOnlyList<(string System, string Name)> events, string? filter)
    {
        if (!string.IsNullOrEmpty(filter))
        {
            foreach (var e in events) _eventFilters.Add((e, _instance.ReadEventFilter(e)));
        }
        // Saved as switched on before they are: a kill between the two leaves them to be switched off, never on.
        Persist(events.Where(e => !_instance.IsEventEnabled(e)).ToList());
        _enabledHere.AddRange(_instance.EnableEvents(events, filter));
        Persist();
    }

    /// <summary>Puts everything back, newest change first; every step is attempted even when one fails.</summary>
    public void Dispose()
    {
        if (_restored) return;
        _restored = true;
        _hook.Dispose();
        var failures = new List<string>();
        void Attempt(string what, Action action)
        {
            try { action(); }
            catch (KernelDebugException e) { failures.Add($"{what}: {e.Message}"); }
        }
        Attempt("events", () => _instance.DisableEvents(_enabledHere, clearFilter: false));
        foreach (var (e, filter) in _eventFilters) _instance.RestoreFilter(e, filter);
        for (int i = _values.Count - 1; i >= 0; i--)
        {
            var (file, value) = _values[i];
            if (ReadValue(file) == value) continue;
            Attempt(file, () => _instance.WriteValue(file, value));
        }
        foreach (var (file, lines) in _lists)
        {
            Attempt(file, () =>
            {
                var path = _instance.FilePath(file);
                ControlFile.Truncate(path);
                foreach (var l in lines) ControlFile.Append(path, l);
            });
        }
        if (_statePath is not null) InstanceLock.TryDelete(_statePath);
        if (failures.Count > 0)
            throw new KernelDebugException($"Could not put back all settings of {_instance.Name}: {string.Join("; ", failures)}.",
                "InstanceSettingsNotRestored", System.Management.Automation.ErrorCategory.WriteError) { Target = _instance.Name };
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{_instance.Name}: {_values.Count} values, {_lists.Count} lists saved");
}
