using KernelDebug.Native;
using System.Runtime.InteropServices;

namespace KernelDebug.Syscall.LibraryCalls;

/// <summary>How one argument or return word is fetched and shown.</summary>
public enum LibraryValueKind { Int, Long, Size, Pointer, String, Void }

public sealed record LibraryPrototype(LibraryValueKind Return, params (string Name, LibraryValueKind Kind)[] Arguments);

/// <summary>
/// Prototypes of common libc functions (ltrace's libc.so.conf, cut down): they decide which registers are fetched
/// and how they are typed. Functions not listed get six raw register words.
/// </summary>
public static class LibraryPrototypes
{
    private const LibraryValueKind I = LibraryValueKind.Int, L = LibraryValueKind.Long, Z = LibraryValueKind.Size,
        P = LibraryValueKind.Pointer, S = LibraryValueKind.String, V = LibraryValueKind.Void;

    private static readonly Dictionary<string, LibraryPrototype> Table = new(StringComparer.Ordinal)
    {
        ["malloc"] = new(P, ("size", Z)),
        ["free"] = new(V, ("ptr", P)),
        ["calloc"] = new(P, ("nmemb", Z), ("size", Z)),
        ["realloc"] = new(P, ("ptr", P), ("size", Z)),
        ["strlen"] = new(Z, ("s", S)),
        ["strcmp"] = new(I, ("s1", S), ("s2", S)),
        ["strncmp"] = new(I, ("s1", S), ("s2", S), ("n", Z)),
        ["strcpy"] = new(P, ("dest", P), ("src", S)),
        ["strncpy"] = new(P, ("dest", P), ("src", S), ("n", Z)),
        ["strdup"] = new(P, ("s", S)),
        ["strchr"] = new(P, ("s", S), ("c", I)),
        ["strstr"] = new(P, ("haystack", S), ("needle", S)),
        ["memcpy"] = new(P, ("dest", P), ("src", P), ("n", Z)),
        ["memmove"] = new(P, ("dest", P), ("src", P), ("n", Z)),
        ["memset"] = new(P, ("s", P), ("c", I), ("n", Z)),
        ["memcmp"] = new(I, ("s1", P), ("s2", P), ("n", Z)),
        ["getenv"] = new(S, ("name", S)),
        ["setenv"] = new(I, ("name", S), ("value", S), ("overwrite", I)),
        ["unsetenv"] = new(I, ("name", S)),
        ["open"] = new(I, ("pathname", S), ("flags", I), ("mode", I)),
        ["open64"] = new(I, ("pathname", S), ("flags", I), ("mode", I)),
        ["close"] = new(I, ("fd", I)),
        ["read"] = new(L, ("fd", I), ("buf", P), ("count", Z)),
        ["write"] = new(L, ("fd", I), ("buf", P), ("count", Z)),
        ["fopen"] = new(P, ("pathname", S), ("mode", S)),
        ["fopen64"] = new(P, ("pathname", S), ("mode", S)),
        ["fclose"] = new(I, ("stream", P)),
        ["puts"] = new(I, ("s", S)),
        ["printf"] = new(I, ("format", S)),
        ["fprintf"] = new(I, ("stream", P), ("format", S)),
        ["sprintf"] = new(I, ("str", P), ("format", S)),
        ["snprintf"] = new(I, ("str", P), ("size", Z), ("format", S)),
        ["atoi"] = new(I, ("nptr", S)),
        ["atol"] = new(L, ("nptr", S)),
        ["strtol"] = new(L, ("nptr", S), ("endptr", P), ("base", I)),
        ["strtoul"] = new(Z, ("nptr", S), ("endptr", P), ("base", I)),
        ["exit"] = new(V, ("status", I)),
        ["sleep"] = new(I, ("seconds", I)),
        ["usleep"] = new(I, ("usec", I)),
    };

    private static readonly LibraryPrototype Unknown = new(P,
        ("arg1", P), ("arg2", P), ("arg3", P), ("arg4", P), ("arg5", P), ("arg6", P));

    public static LibraryPrototype For(string function) => Table.TryGetValue(function, out var p) ? p : Unknown;

    public static bool IsKnown(string function) => Table.ContainsKey(function);

    /// <summary>The registers of the first six integer arguments in the kernel's fetch-arg syntax.</summary>
    public static IReadOnlyList<string> ArgumentRegisters(Architecture arch) => arch switch
    {
        Architecture.X64 => new[] { "%di", "%si", "%dx", "%cx", "%r8", "%r9" },
        Architecture.Arm64 => new[] { "%x0", "%x1", "%x2", "%x3", "%x4", "%x5" },
        _ => throw new KernelDebugException($"Library-call tracing knows the argument registers of x86_64 and aarch64, not of {arch}.",
            "LibraryCallArchitectureNotSupported", System.Management.Automation.ErrorCategory.NotImplemented),
    };

    /// <summary>Fetch args of the entry probe: a raw word per argument (a{i}) and, for strings, the text (s{i}).</summary>
    public static List<string> EntryFetchArgs(LibraryPrototype p, Architecture arch)
    {
        var regs = ArgumentRegisters(arch);
        var list = new List<string>();
        for (int i = 0; i < p.Arguments.Length && i < regs.Count; i++)
        {
            list.Add($"a{i}={regs[i]}:x64");
            if (p.Arguments[i].Kind == LibraryValueKind.String) list.Add($"s{i}=+0({regs[i]}):ustring");
        }
        return list;
    }

    public static List<string> ReturnFetchArgs(LibraryPrototype p)
    {
        var list = new List<string> { "ret=$retval:x64" };
        if (p.Return == LibraryValueKind.String) list.Add("rets=+0($retval):ustring");
        return list;
    }

    /// <summary>The typed value of a raw word (and its fetched text for strings; null pointers stay null).</summary>
    public static object? Typed(LibraryValueKind kind, ulong raw, string? text) => kind switch
    {
        LibraryValueKind.Int => (int)(uint)raw,
        LibraryValueKind.Long => (long)raw,
        LibraryValueKind.Size => raw,
        LibraryValueKind.String => raw == 0 ? null : text,
        LibraryValueKind.Void => null,
        _ => raw,
    };

    public static string Text(LibraryValueKind kind, object? value, ulong raw) => kind switch
    {
        LibraryValueKind.String when value is string s => "\"" + s + "\"",
        LibraryValueKind.String or LibraryValueKind.Pointer => raw == 0 ? "NULL" : $"0x{raw:x}",
        LibraryValueKind.Void => "<void>",
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };
}
