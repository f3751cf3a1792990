using System.Management.Automation;

namespace KernelDebug.Native;

/// <summary>
/// A failed system call or a refused kernel operation. Carries the errno, a stable ErrorId, the PowerShell
/// category from the one errno map, and an optional remedy (what the user can do about it).
/// </summary>
public class KernelDebugException : Exception
{
    public KernelDebugException(string message, string errorId, ErrorCategory category, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Category = category;
    }

    public KernelDebugException(int errno, string operation, string? target = null, string? errorId = null)
        : base(FormatMessage(errno, operation, target))
    {
        Errno = errno;
        ErrorId = errorId ?? $"{ToIdPart(operation)}.{Native.Errno.Name(errno)}";
        Category = Native.Errno.ToCategory(errno);
        Target = target;
        if (errno is Native.Errno.EPERM or Native.Errno.EACCES)
            Remedy = "Run pwsh as root (sudo pwsh), or grant the capability the operation needs (CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF). Get-KernelDebugCapability shows what this host allows.";
    }

    public int Errno { get; }
    public string ErrorId { get; }
    public ErrorCategory Category { get; }
    public string? Target { get; init; }
    public string? Remedy { get; init; }
    /// <summary>For kernel parse errors (error_log): the column the kernel's caret points at, 0-based.</summary>
    public int? Position { get; init; }

    public string ErrnoName => Errno == 0 ? string.Empty : Native.Errno.Name(Errno);

    private static string FormatMessage(int errno, string operation, string? target) =>
        target is null
            ? $"{operation} failed: {Native.Errno.Message(errno)} ({Native.Errno.Name(errno)})."
            : $"{operation} '{target}' failed: {Native.Errno.Message(errno)} ({Native.Errno.Name(errno)}).";

    private static string ToIdPart(string operation)
    {
        var chars = operation.Where(char.IsLetterOrDigit).ToArray();
        return chars.Length == 0 ? "Syscall" : new string(chars);
    }
}
