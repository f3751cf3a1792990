using System.Globalization;
using System.Management.Automation;
using System.Text;
using KernelDebug.Host;
using KernelDebug.Native;

namespace KernelDebug.Ftrace
{
    /// <summary>
    /// The function tracer's filter files. User globs are checked before they reach the kernel: the kernel reads
    /// whitespace as a separator (several globs) and ':' as a command (func:mod:x, func:traceoff...), and '!' as removal,
    /// so a glob may hold only the characters of a symbol name and the glob characters * ? [ ].
    /// </summary>
    public static class FunctionFilter
    {
        public static string FileName(FtraceFilterKind kind) => kind switch
        {
            FtraceFilterKind.Filter => "set_ftrace_filter",
            FtraceFilterKind.NoTrace => "set_ftrace_notrace",
            FtraceFilterKind.GraphFunction => "set_graph_function",
            FtraceFilterKind.GraphNoTrace => "set_graph_notrace",
            FtraceFilterKind.ProcessId => "set_ftrace_pid",
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };

        /// <summary>Refuses anything but a symbol glob: letters, digits, _ . and * ? [ ] -.</summary>
        public static string ValidateGlob(string glob, string parameterName = "Function")
        {
            UserInput.EnsureSingleLine(glob, parameterName);
            if (glob.Length == 0)
                throw new KernelDebugException($"-{parameterName} has an empty function name.", "InvalidFunctionGlob", ErrorCategory.InvalidArgument);
            for (int i = 0; i < glob.Length; i++)
            {
                char c = glob[i];
                if (char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '*' or '?' or '[' or ']' or '-') continue;
                throw new KernelDebugException(
                    $"The function glob '{glob}' has '{c}' at position {i}. The kernel would read {(char.IsWhiteSpace(c) ? "whitespace as a separator between globs" : c == ':' ? "':' as a filter command" : c == '!' ? "a leading '!' as removal" : "it as part of a command")}; use -Module for modules and one glob per array element.",
                    "InvalidFunctionGlob", ErrorCategory.InvalidArgument) { Target = glob, Position = i };
            }
            if (glob[0] == '-')
                throw new KernelDebugException($"The function glob '{glob}' starts with '-'.", "InvalidFunctionGlob", ErrorCategory.InvalidArgument) { Target = glob, Position = 0 };
            return glob;
        }

        public static string ValidateModule(string module)
        {
            UserInput.EnsureSingleLine(module, "Module");
            for (int i = 0; i < module.Length; i++)
                if (!(char.IsAsciiLetterOrDigit(module[i]) || module[i] is '_' or '-' or '*' or '?'))
                    throw new KernelDebugException($"'{module}' is not a module name (character '{module[i]}' at position {i}).",
                        "InvalidModuleName", ErrorCategory.InvalidArgument) { Target = module, Position = i };
            return module;
        }

        /// <summary>
        /// available_filter_functions as "function" or "function [module]" lines, or null with the errno when the
        /// kernel does not let it be read (this host: EPERM).
        /// </summary>
        public static IReadOnlyList<(string Function, string? Module)>? ReadAvailableFunctions(out int errno)
        {
            var text = ControlFile.TryReadText(Path.Combine(KernelFileSystems.GetTraceFs(), "available_filter_functions"), out errno);
            if (text is null) return null;
            var list = new List<(string, string?)>();
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                int sp = line.IndexOf(' ');
                if (sp < 0) list.Add((line, null));
                else list.Add((line[..sp], line[(sp + 1)..].Trim().Trim('[', ']')));
            }
            return list;
        }

        public static IEnumerable<FtraceFilterEntry> Read(FtraceInstance instance, FtraceFilterKind kind)
        {
            var path = instance.FilePath(FileName(kind));
            if (!File.Exists(path))
                throw new KernelDebugException($"{FileName(kind)} is missing in {instance.Name}: the kernel was built without {(kind is FtraceFilterKind.GraphFunction or FtraceFilterKind.GraphNoTrace ? "CONFIG_FUNCTION_GRAPH_TRACER" : "CONFIG_DYNAMIC_FTRACE")}.",
                    "FtraceFilterNotSupported", ErrorCategory.NotImplemented) { Target = path };
            string text;
            try { text = ControlFile.ReadText(path); }
            catch (KernelDebugException e) when (e.Errno is Errno.EPERM or Errno.EACCES)
            {
                throw Refused(e, path);
            }
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (line.StartsWith('#')) continue; // "#### all functions enabled ####", "no pid"
                int sp = line.IndexOf(' ');
                yield return new FtraceFilterEntry
                {
                    Instance = instance.Name, Kind = kind,
                    Value = sp < 0 ? line : line[..sp],
                    Module = sp < 0 ? null : line[(sp + 1)..].Trim().Trim('[', ']'),
                };
            }
        }

        /// <summary>
        /// Writes globs to a filter file, one write each. Without append the file is emptied first (O_TRUNC), as
        /// trace-cmd does in its own instance. Globs are checked against available_filter_functions when it can be read.
        /// </summary>
        public static void Write(FtraceInstance instance, FtraceFilterKind kind, IReadOnlyList<string> globs, string? module, bool append)
        {
            if (kind == FtraceFilterKind.ProcessId) throw new ArgumentException("Use WritePids for set_ftrace_pid.");
            foreach (var g in globs) ValidateGlob(g);
            if (module is not null) ValidateModule(module);
            var available = ReadAvailableFunctions(out _);
            if (available is not null)
            {
                foreach (var g in globs)
                {
                    var p = WildcardPattern.Get(g, WildcardOptions.None);
                    var m = module is null ? null : WildcardPattern.Get(module, WildcardOptions.None);
                    if (!available.Any(a => p.IsMatch(a.Function) && (m is null || (a.Module is not null && m.IsMatch(a.Module)))))
                        throw new KernelDebugException($"No traceable function matches '{g}'{(module is null ? "" : $" in module {module}")} (available_filter_functions).",
                            "FunctionNotFound", ErrorCategory.ObjectNotFound) { Target = g };
                }
            }
            var path = instance.FilePath(FileName(kind));
            try
            {
                if (!append) ControlFile.Truncate(path);
                foreach (var g in globs)
                    ControlFile.Append(path, module is null ? g : $"{g}:mod:{module}");
            }
            catch (KernelDebugException e) when (e.Errno is Errno.EPERM or Errno.EACCES)
            {
                throw Refused(e, path);
            }
            catch (KernelDebugException e) when (e.Errno == Errno.EINVAL)
            {
                throw new KernelDebugException($"The kernel refused a glob for {FileName(kind)} (no function matched, or the syntax was not accepted).",
                    "FtraceFilterRefused", ErrorCategory.InvalidArgument, e) { Target = string.Join(",", globs) };
            }
        }

        public static void WritePids(FtraceInstance instance, IReadOnlyList<int> pids, bool append)
        {
            var path = instance.FilePath(FileName(FtraceFilterKind.ProcessId));
            try
            {
                if (!append) ControlFile.Truncate(path);
                foreach (var pid in pids) ControlFile.Append(path, pid.ToString(CultureInfo.InvariantCulture));
            }
            catch (KernelDebugException e) when (e.Errno is Errno.EPERM or Errno.EACCES)
            {
                throw Refused(e, path);
            }
        }

        public static void Clear(FtraceInstance instance, FtraceFilterKind kind)
        {
            var path = instance.FilePath(FileName(kind));
            if (!File.Exists(path)) return;
            try { ControlFile.Truncate(path); }
            catch (KernelDebugException e) when (e.Errno is Errno.EPERM or Errno.EACCES) { throw Refused(e, path); }
        }

        private static KernelDebugException Refused(KernelDebugException e, string path) =>
            new($"The kernel refused access to {Path.GetFileName(path)}: {Errno.Message(e.Errno)} ({e.ErrnoName}). Function filters need the function tracer, which this kernel does not allow.",
                "FtraceFilter." + e.ErrnoName, e.Category, e)
            {
                Target = path,
                Remedy = "Get-KernelDebugCapability FunctionTracer says why; a kernel with CONFIG_FUNCTION_TRACER and dynamic ftrace not locked down allows it (boot one with CONFIG_FUNCTION_TRACER=y and CONFIG_DYNAMIC_FTRACE=y, not locked down).",
            };
    }
}
