using KernelDebug.Host;

namespace KernelDebug.Probes;

/// <summary>
/// What the validator asks of the host: files, kernel symbols, trace events and BTF. The host implementation reads the
/// running system; tests substitute recorded fixtures.
/// </summary>
public interface IProbeEnvironment
{
    /// <summary>uname -m spelling: x86_64 or aarch64.</summary>
    string Architecture { get; }

    /// <summary>True: a regular file; false: exists but is not regular; null: not found.</summary>
    bool? IsRegularFile(string path);

    /// <summary>How many kernel text symbols have this name (0: none); null when the symbol table cannot be read.</summary>
    int? KernelSymbolCount(string name);

    /// <summary>The fields of a trace event (format file), or null when the event does not exist.</summary>
    IReadOnlyCollection<string>? EventFields(string system, string eventName);

    /// <summary>True when a tracepoint of this name exists (any system).</summary>
    bool TracepointExists(string name);

    /// <summary>True when the kernel has BTF (needed for BTF-named arguments and $arg*).</summary>
    bool HasBtf { get; }

    /// <summary>The kernel's version (major.minor): some verdicts changed with the 6.5 fetch-argument rework.</summary>
    Version KernelVersion { get; }
}

/// <summary>The running host: the file system, /proc/kallsyms, tracefs events/ and /sys/kernel/btf/vmlinux.</summary>
public sealed class HostProbeEnvironment : IProbeEnvironment
{
    private readonly string? _traceFs;

    public HostProbeEnvironment(string? traceFs = null)
    {
        _traceFs = traceFs;
    }

    public string Architecture => ProbeRegisters.Current;

    public bool? IsRegularFile(string path)
    {
        // The kernel follows symlinks (LOOKUP_FOLLOW); so does statx without AT_SYMLINK_NOFOLLOW.
        var mode = Native.Interop.StatMode(path, out _);
        return mode is null ? null : (mode & Native.Interop.S_IFMT) == Native.Interop.S_IFREG;
    }

    public int? KernelSymbolCount(string name)
    {
        // Text symbols only (kprobes probe code), from the one kallsyms model; names are listed even when addresses are hidden.
        var symbols = Symbols.Kallsyms.Current;
        return symbols.HasTextSymbols ? symbols.TextSymbolCount(name) : null;
    }

    private string? TraceFs => _traceFs ?? KernelFileSystems.FindMounted("tracefs");

    public IReadOnlyCollection<string>? EventFields(string system, string eventName)
    {
        var t = TraceFs;
        if (t is null) return null;
        var format = Path.Combine(t, "events", system, eventName, "format");
        var text = ControlFile.TryReadText(format, out _);
        return text is null ? null : TraceEventFormat.Parse(system, text).Fields.Select(f => f.Name).ToArray();
    }

    public bool TracepointExists(string name)
    {
        var t = TraceFs;
        if (t is null) return false;
        var events = Path.Combine(t, "events");
        try { return Directory.EnumerateDirectories(events).Any(sys => Directory.Exists(Path.Combine(sys, name))); }
        catch (IOException) { return false; }
    }

    public bool HasBtf => File.Exists("/sys/kernel/btf/vmlinux");

    private Version? _kernelVersion;

    public Version KernelVersion => _kernelVersion ??= ParseRelease(ControlFile.TryReadText("/proc/sys/kernel/osrelease", out _));

    /// <summary>"6.1.0-28-amd64" → 6.1; an unreadable release counts as new (today's rules).</summary>
    public static Version ParseRelease(string? release)
    {
        var m = System.Text.RegularExpressions.Regex.Match(release ?? string.Empty, @"^(\d+)\.(\d+)");
        return m.Success ? new Version(int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture))
            : new Version(int.MaxValue, 0);
    }
}
