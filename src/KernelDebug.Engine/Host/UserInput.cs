using System.Management.Automation;
using KernelDebug.Native;

namespace KernelDebug.Host;

/// <summary>Guards user strings before they reach a kernel control file.</summary>
public static class UserInput
{
    /// <summary>Refuses newlines and other control characters: each would let one user string become several kernel commands.</summary>
    public static string EnsureSingleLine(string value, string parameterName)
    {
        for (int i = 0; i < value.Length; i++)
        {
            if (char.IsControl(value[i]))
                throw new KernelDebugException(
                    $"The value of -{parameterName} contains a control character (U+{(int)value[i]:X4}) at position {i}; kernel control files take one line per definition.",
                    "UnsafeUserString", ErrorCategory.InvalidArgument) { Position = i, Target = value };
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
