using System.Diagnostics;

namespace KernelDebug.Tests;

/// <summary>Compiles a small C program against the system's kernel headers and returns what it prints (struct layouts).</summary>
internal static class CHeader
{
    public static string? Compiler => new[] { "/usr/bin/cc", "/usr/bin/gcc", "/usr/bin/clang" }.FirstOrDefault(File.Exists);

    /// <summary>Returns "name=value" lines printed by the program, or null when no C compiler is installed.</summary>
    public static Dictionary<string, long>? Evaluate(string includes, IEnumerable<(string Name, string Expression)> values)
    {
        if (Compiler is null) return null;
        var dir = Directory.CreateTempSubdirectory("kd-cheader-");
        try
        {
            var src = Path.Combine(dir.FullName, "probe.c");
            // "expr@MACRO" is printed only where the header defines MACRO (fields newer than the installed headers).
            var body = string.Join("\n", values.Select(v =>
            {
                var parts = v.Expression.Split('@');
                var line = $"    printf(\"%s=%ld\\n\", \"{v.Name}\", (long)({parts[0]}));";
                return parts.Length == 2 ? $"#ifdef {parts[1]}\n{line}\n#endif" : line;
            }));
            File.WriteAllText(src, $"#include <stdio.h>\n#include <stddef.h>\n{includes}\nint main(void) {{\n{body}\n    return 0;\n}}\n");
            var exe = Path.Combine(dir.FullName, "probe");
            Run(Compiler, "-o", exe, src);
            return Run(exe).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split('=')).ToDictionary(p => p[0], p => long.Parse(p[1]));
        }
        finally { dir.Delete(true); }
    }

    private static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} failed: {error}");
        return output;
    }
}
