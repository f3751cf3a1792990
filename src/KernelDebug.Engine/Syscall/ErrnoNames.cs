namespace KernelDebug.Syscall;

/// <summary>errno names and messages as strace prints them in syscall records (the table is Native/Errno's).</summary>
public static class ErrnoNames
{
    public static string Name(int errno) => KernelDebug.Native.Errno.TryName(errno, out var n) ? n : $"errno {errno}";

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
