using System.Globalization;
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
    private readonly IDisposable _hook;

    public InstanceSettings(FtraceInstance instance)
    {
        _instance = instance;
        // Put back also when the process ends without Dispose (SIGTERM, SIGHUP, Exit).
        _hook = ShutdownHooks.Add(ShutdownHooks.StageRestore, () => Dispose());
    }

    /// <summary>Saves a single-value control file (current_tracer, tracing_on, options/..., trace_clock, buffer_size_kb).</summary>
    public void SaveValue(string file)
    {
        var value = ReadValue(file);
        if (!string.IsNullOrEmpty(value)) _values.Add((file, value));
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
    }

    /// <summary>Enables events with an optional filter, remembering the filters it replaced and the events it switched on.</summary>
    public void EnableEvents(IReadOnlyList<(string System, string Name)> events, string? filter)
    {
        if (filter is not null)
        {
            foreach (var e in events) _eventFilters.Add((e, _instance.ReadEventFilter(e)));
        }
        _enabledHere.AddRange(_instance.EnableEvents(events, filter));
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
        if (failures.Count > 0)
            throw new KernelDebugException($"Could not put back all settings of {_instance.Name}: {string.Join("; ", failures)}.",
                "InstanceSettingsNotRestored", System.Management.Automation.ErrorCategory.WriteError) { Target = _instance.Name };
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{_instance.Name}: {_values.Count} values, {_lists.Count} lists saved");
}
