using System.Management.Automation;
using System.Runtime.InteropServices;

namespace KernelDebug.Native;

/// <summary>errno values used by the module, their names, and the one errno→ErrorCategory map.</summary>
public static partial class Errno
{
    public const int EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7, ENOEXEC = 8,
        EBADF = 9, ECHILD = 10, EAGAIN = 11, ENOMEM = 12, EACCES = 13, EFAULT = 14, EBUSY = 16, EEXIST = 17,
        ENODEV = 19, ENOTDIR = 20, EISDIR = 21, EINVAL = 22, ENFILE = 23, EMFILE = 24, ENOTTY = 25, EFBIG = 27,
        ENOSPC = 28, ESPIPE = 29, EROFS = 30, EPIPE = 32, ERANGE = 34, ENAMETOOLONG = 36, ENOSYS = 38, ELOOP = 40,
        ENODATA = 61, ETIME = 62, EOVERFLOW = 75, EOPNOTSUPP = 95, ETIMEDOUT = 110, ENOTSUPP = 524;

    /// <summary>The symbolic name (ENOENT); "E{n}" for numbers the table does not know.</summary>
    public static string Name(int errno) => Names.TryGetValue(errno, out var n) ? n : $"E{errno}";

    /// <summary>strerror text from libc.</summary>
    public static string Message(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>The one map from errno to PowerShell's ErrorCategory. Never NotSpecified.</summary>
    public static ErrorCategory ToCategory(int errno) => errno switch
    {
        EPERM or EACCES => ErrorCategory.PermissionDenied,
        ENOENT or ESRCH or ENODEV or ENXIO or ECHILD => ErrorCategory.ObjectNotFound,
        EINVAL or E2BIG or ERANGE or ENAMETOOLONG or EFAULT or EBADF => ErrorCategory.InvalidArgument,
        EBUSY or EAGAIN => ErrorCategory.ResourceBusy,
        EEXIST => ErrorCategory.ResourceExists,
        ENOSPC or ENOMEM or EMFILE or ENFILE or EFBIG or EOVERFLOW => ErrorCategory.LimitsExceeded,
        ENOSYS or EOPNOTSUPP or ENOTSUPP or ENOTTY or ENOEXEC => ErrorCategory.NotImplemented,
        ETIMEDOUT or ETIME => ErrorCategory.OperationTimeout,
        EROFS or EISDIR or ENOTDIR or ESPIPE => ErrorCategory.InvalidOperation,
        EINTR => ErrorCategory.OperationStopped,
        _ => ErrorCategory.DeviceError,
    };

    /// <summary>The last errno of a LibraryImport call made with SetLastError = true.</summary>
    public static int Last => Marshal.GetLastPInvokeError();
}
