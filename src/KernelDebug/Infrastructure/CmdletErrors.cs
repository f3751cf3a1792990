using System.Management.Automation;
using KernelDebug.Native;

namespace KernelDebug.Commands;

/// <summary>Turns engine exceptions into ErrorRecords: stable ErrorIds, the errno map's category, and the remedy in ErrorDetails.</summary>
public static class CmdletErrors
{
    public static ErrorRecord ToErrorRecord(this Exception exception, object? target = null)
    {
        switch (exception)
        {
            case KernelDebugException k:
            {
                var record = new ErrorRecord(k, k.ErrorId, k.Category, target ?? k.Target);
                if (k.Remedy is not null || k.Position is not null)
                {
                    record.ErrorDetails = new ErrorDetails(k.Message)
                    {
                        RecommendedAction = k.Remedy ?? string.Empty,
                    };
                }
                return record;
            }
            case UnauthorizedAccessException u:
                return new ErrorRecord(u, "AccessDenied", ErrorCategory.PermissionDenied, target)
                { ErrorDetails = new ErrorDetails(u.Message) { RecommendedAction = "Run pwsh as root (sudo pwsh)." } };
            case FileNotFoundException or DirectoryNotFoundException:
                return new ErrorRecord(exception, "PathNotFound", ErrorCategory.ObjectNotFound, target);
            case ArgumentException a:
                return new ErrorRecord(a, "InvalidArgument", ErrorCategory.InvalidArgument, target);
            case TimeoutException t:
                return new ErrorRecord(t, "Timeout", ErrorCategory.OperationTimeout, target);
            case IOException io:
                return new ErrorRecord(io, "IOError", ErrorCategory.ReadError, target);
            case PlatformNotSupportedException p:
                return new ErrorRecord(p, "PlatformNotSupported", ErrorCategory.NotImplemented, target);
            default:
                return new ErrorRecord(exception, exception.GetType().Name, ErrorCategory.InvalidOperation, target);
        }
    }

    /// <summary>A non-terminating error from an engine exception.</summary>
    public static void WriteKernelError(this Cmdlet cmdlet, Exception exception, object? target = null)
    {
        cmdlet.ReportMounts();
        cmdlet.WriteError(exception.ToErrorRecord(target));
    }

    /// <summary>A terminating error from an engine exception.</summary>
    public static void ThrowKernelError(this Cmdlet cmdlet, Exception exception, object? target = null)
    {
        cmdlet.ReportMounts();
        cmdlet.ThrowTerminatingError(exception.ToErrorRecord(target));
    }

    /// <summary>True for the exceptions the engine raises for user- or host-caused failures (shown as ErrorRecords, never as stack traces).</summary>
    public static bool IsExpected(Exception e) =>
        e is KernelDebugException or UnauthorizedAccessException or IOException or ArgumentException or TimeoutException or PlatformNotSupportedException;
}
