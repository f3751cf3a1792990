using System.Globalization;
using System.Management.Automation;
using KernelDebug.Native;

namespace KernelDebug.Host;

/// <summary>Guards user strings before they reach a kernel control file.</summary>
public static class UserInput
{
    /// <summary>
    /// Refuses newlines and other control characters (each would let one user string become several kernel commands),
    /// and invisible format characters: bidi overrides and zero-width characters make what a reader sees differ from
    /// what the kernel gets.
    /// </summary>
    public static string EnsureSingleLine(string value, string parameterName)
    {
        for (int i = 0; i < value.Length; i++)
        {
            if (char.IsControl(value[i]))
                throw new KernelDebugException(
                    $"The value of -{parameterName} contains a control character (U+{(int)value[i]:X4}) at position {i}; kernel control files take one line per definition.",
                    "UnsafeUserString", ErrorCategory.InvalidArgument) { Position = i, Target = value };
            if (CharUnicodeInfo.GetUnicodeCategory(value[i]) == UnicodeCategory.Format)
                throw new KernelDebugException(
                    $"The value of -{parameterName} contains an invisible format character (U+{(int)value[i]:X4}, bidi or zero-width) at position {i}.",
                    "UnsafeUserString", ErrorCategory.InvalidArgument) { Position = i, Target = value };
        }
        return value;
    }

    /// <summary>
    /// A name the module creates in the kernel (an instance, a probe): ASCII letters, digits, '_', '-' and '.', so no
    /// glob character, no $(…), quote or shell metacharacter makes it something else when a script or a tool reads it back.
    /// </summary>
    public static string EnsureName(string value, string parameterName, string errorId, string what)
    {
        EnsureSingleLine(value, parameterName);
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '_' or '-' or '.') continue;
            throw new KernelDebugException(
                $"'{value}' is not a valid {what}: '{c}' at position {i}; use ASCII letters, digits, '_', '-' and '.'.",
                errorId, ErrorCategory.InvalidArgument) { Position = i, Target = value };
        }
        return value;
    }

    /// <summary>Refuses the characters that the kernel reads as separators or comments in a definition.</summary>
    public static string EnsureNoSeparators(string value, string parameterName, string forbidden = "#;")
    {
        EnsureSingleLine(value, parameterName);
        int i = value.IndexOfAny(forbidden.ToCharArray());
        if (i >= 0)
            throw new KernelDebugException(
                $"The value of -{parameterName} contains '{value[i]}' at position {i}, which the kernel would read as a separator or comment.",
                "UnsafeUserString", ErrorCategory.InvalidArgument) { Position = i, Target = value };
        return value;
    }
}
