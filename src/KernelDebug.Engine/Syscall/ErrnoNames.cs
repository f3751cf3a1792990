namespace KernelDebug.Syscall;

/// <summary>errno names and messages as strace prints them in syscall records (the table is Native/Errno's).</summary>
public static class ErrnoNames
{
    public static string Name(int errno) => KernelDebug.Native.Errno.TryName(errno, out var n) ? n : $"errno {errno}";

    private static readonly Lazy<Dictionary<string, int>> Numbers = new(() =>
    {
        var d = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (int e = 4095; e >= 1; e--)
            if (KernelDebug.Native.Errno.TryName(e, out var n)) d[n] = e; // aliases (EWOULDBLOCK) keep the lower number
        return d;
    });

    /// <summary>An errno name of the module's table (ENOENT, case-insensitive) or a number 1..4095, as strace's error= takes it.</summary>
    public static bool TryNumber(string text, out int errno)
    {
        text = text.Trim();
        if (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out errno))
            return errno is >= 1 and <= 4095;
        return Numbers.Value.TryGetValue(text, out errno);
    }

    /// <summary>strerror, or for the restart codes the explanation strace gives.</summary>
    public static string Message(int errno) => errno switch
    {
        512 => "To be restarted if SA_RESTART is set",
        513 => "To be restarted",
        514 => "To be restarted if no handler",
        516 => "Interrupted by signal",
        _ => KernelDebug.Native.Errno.Message(errno),
    };
}
