using System.IO.Compression;
using System.Management.Automation;
using System.Text.RegularExpressions;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Bpf;

/// <summary>Arguments for stap and the parser of its stderr.</summary>
public static class SystemTapRunner
{
    private static readonly Regex ErrorStart = new(@"^(?<kind>[a-z][a-z ]*error): (?<msg>.*)$", RegexOptions.Compiled);
    private static readonly Regex Location = new(@"\bat (?<file>\S+?):(?<line>\d+):(?<col>\d+)\b", RegexOptions.Compiled);

    /// <summary>
    /// Stages 1-3 (parse, elaborate, translate) do not compile anything, but stap still checks the kernel build tree
    /// first. When the running kernel's tree is missing, a private stub tree (kernel.release, the running .config, an
    /// empty Module.symvers) lets them run for scripts that need no kernel debug info (begin, end, timer probes).
    /// </summary>
    public static string? CreateParseOnlyBuildTree(string release)
    {
        if (Directory.Exists($"/lib/modules/{release}/build")) return null;
        var dir = Directory.CreateTempSubdirectory($"{Naming.Prefix}_{Naming.ProcessId}_stap_").FullName;
        Directory.CreateDirectory(Path.Combine(dir, "include", "config"));
        File.WriteAllText(Path.Combine(dir, "include", "config", "kernel.release"), release + "\n");
        File.WriteAllText(Path.Combine(dir, "Module.symvers"), "");
        try
        {
            using var gz = new GZipStream(File.OpenRead("/proc/config.gz"), CompressionMode.Decompress);
            using var config = File.Create(Path.Combine(dir, ".config"));
            gz.CopyTo(config);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { File.WriteAllText(Path.Combine(dir, ".config"), ""); }
        return dir;
    }

    public static IEnumerable<SystemTapDiagnostic> ParseStderr(IReadOnlyList<string> lines, bool stubTree)
    {
        for (int i = 0; i < lines.Count; i++)
        {
            var line = lines[i];
            var m = ErrorStart.Match(line);
            if (m.Success)
            {
                var context = new List<string>();
                string msg = m.Groups["msg"].Value;
                var loc = Location.Match(msg);
                int j = i + 1;
                for (; j < lines.Count && lines[j].StartsWith(' ') && lines[j].Trim().Length > 0; j++)
                {
                    context.Add(lines[j].TrimEnd());
                    if (!loc.Success) loc = Location.Match(lines[j]);
                }
                i = j - 1;
                yield return new SystemTapDiagnostic
                {
                    Kind = m.Groups["kind"].Value, Message = msg, Context = context.ToArray(),
                    File = loc.Success ? loc.Groups["file"].Value : null,
                    Line = loc.Success ? int.Parse(loc.Groups["line"].Value) : null,
                    Column = loc.Success ? int.Parse(loc.Groups["col"].Value) : null,
                };
                continue;
            }
            if (line.StartsWith("WARNING: ", StringComparison.Ordinal))
            {
                bool noise = stubTree && line.Contains("symbol table missing", StringComparison.Ordinal);
                yield return new SystemTapDiagnostic { Level = noise ? "verbose" : "warning", Kind = "WARNING", Message = line[9..] };
                continue;
            }
            if (line.StartsWith("ERROR: ", StringComparison.Ordinal))
            {
                yield return new SystemTapDiagnostic { Kind = "ERROR", Message = line[7..] };
                continue;
            }
            if (line.Trim().Length > 0)
                yield return new SystemTapDiagnostic { Level = "verbose", Kind = "stap", Message = line.Trim() };
        }
    }

    /// <param name="stubRelease">The kernel release when stap ran on a stub build tree: a probe point stap cannot resolve
    /// may then be one the missing headers and debug info would have resolved, and the remedy says so.</param>
    public static KernelDebugException ToException(SystemTapDiagnostic d, string? stubRelease = null)
    {
        var where = d.File is null ? "" : $"{d.File}:{d.Line}:{d.Column}: ";
        var text = $"stap: {where}{d.Kind}: {d.Message}" + (d.Context.Length == 0 ? "" : "\n" + string.Join("\n", d.Context));
        return new KernelDebugException(text, d.File is null ? "SystemTapError" : "SystemTapScriptError",
            d.File is null ? ErrorCategory.InvalidOperation : ErrorCategory.ParserError)
        {
            Position = d.Column - 1, Target = d.File,
            Remedy = stubRelease is not null && d.Kind == "semantic error" && (d.Message.Contains("probe point", StringComparison.Ordinal) || d.Message == "no match")
                ? $"The kernel headers and debug info for {stubRelease} are missing, so kernel probe points (syscall.*, kernel.function, tracepoints) cannot be resolved here: install linux-headers-{stubRelease} and linux-image-{stubRelease}-dbg. Get-KernelDebugCapability SystemTap says what is missing."
                : null,
        };
    }
}
