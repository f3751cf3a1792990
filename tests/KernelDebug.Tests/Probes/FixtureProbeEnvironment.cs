using KernelDebug.Probes;

namespace KernelDebug.Tests.Probes;

/// <summary>A recorded host for the validator: kernel symbols and one event's fields, from the fixtures.</summary>
internal sealed class FixtureProbeEnvironment : IProbeEnvironment
{
    /// <summary>tests/fixtures/probes, found by walking up from the test assembly.</summary>
    public static string FixtureDir
    {
        get
        {
            var dir = AppContext.BaseDirectory;
            while (dir is not null && !Directory.Exists(Path.Combine(dir, "tests", "fixtures", "probes")))
                dir = Path.GetDirectoryName(dir.TrimEnd('/'));
            return Path.Combine(dir!, "tests", "fixtures", "probes");
        }
    }

    private readonly Dictionary<string, int> _symbols = new() { ["vfs_read"] = 1, ["vfs_write"] = 1, ["do_sys_openat2"] = 1, ["_text"] = 1 };

    public string Architecture { get; init; } = "x86_64";
    public bool? IsRegularFile(string path) => path switch { "/bin/bash" or "/usr/bin/bash" => true, "/dev/null" or "/tmp" => false, _ => null };
    public int? KernelSymbolCount(string name) => _symbols.TryGetValue(name, out var n) ? n : 0;

    public IReadOnlyCollection<string>? EventFields(string system, string eventName) =>
        system == "syscalls" && eventName == "sys_enter_openat"
            ? TraceEventFormat.Parse(system, File.ReadAllText(Path.Combine(FixtureDir, "sys_enter_openat.format"))).Fields.Select(f => f.Name).ToArray()
            : null;

    public bool TracepointExists(string name) => name is "sched_switch" or "sys_enter_openat";
    public bool HasBtf { get; init; }
    /// <summary>The host's kernel by default; the 6.1 fixture's verdicts are checked with 6.1.</summary>
    public Version KernelVersion { get; init; } = new(6, 18);
}
