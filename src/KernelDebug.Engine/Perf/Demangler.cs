using System.Runtime.InteropServices;
using System.Text;
using KernelDebug.Native;

namespace KernelDebug.Perf;

/// <summary>
/// C++ names as perf shows them: demangled by the C++ runtime's own __cxa_demangle, without the parameter list
/// (perf demangles without DMGL_PARAMS). Names that are not mangled, or when libstdc++ is absent, stay as they are.
/// </summary>
public static class Demangler
{
    private static bool _unavailable;

    public static unsafe string Demangle(string name)
    {
        if (_unavailable || name.Length < 3 || !name.StartsWith("_Z", StringComparison.Ordinal)) return name;
        var bytes = Encoding.UTF8.GetBytes(name + "\0");
        byte* result;
        int status;
        try
        {
            fixed (byte* p = bytes) result = Interop.__cxa_demangle(p, null, null, &status);
        }
        catch (DllNotFoundException) { _unavailable = true; return name; }
        catch (EntryPointNotFoundException) { _unavailable = true; return name; }
        if (result is null || status != 0) return name;
        try { return StripParameters(Marshal.PtrToStringUTF8((nint)result) ?? name); }
        finally { Interop.free(result); }
    }

    /// <summary>"ns::f&lt;int (*)(int)&gt;(int) const" → "ns::f&lt;int (*)(int)&gt;"; a trailing "[clone .cold]" is kept.</summary>
    internal static string StripParameters(string s)
    {
        string suffix = string.Empty;
        int clone = s.LastIndexOf(" [clone ", StringComparison.Ordinal);
        if (clone > 0 && s.EndsWith(']')) { suffix = s[clone..]; s = s[..clone]; }
        int close = s.LastIndexOf(')');
        if (close < 0) return s + suffix;
        int depth = 0;
        for (int i = close; i >= 0; i--)
        {
            if (s[i] == ')') depth++;
            else if (s[i] == '(' && --depth == 0) return s[..i] + suffix;
        }
        return s + suffix;
    }
}
