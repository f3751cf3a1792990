namespace KernelDebug.Native;

internal static partial class Interop
{
    /// <summary>The one place errno is turned into an exception: every call site passes its result through here.</summary>
    internal static long Check(long result, string operation, string? target = null)
    {
        if (result < 0)
            throw new KernelDebugException(Errno.Last, operation, target);
        return result;
    }

    internal static int Check(int result, string operation, string? target = null) =>
        (int)Check((long)result, operation, target);

    /// <summary>Runs a call again while it fails with EINTR.</summary>
    internal static long RetryOnEintr(Func<long> call)
    {
        while (true)
        {
            long r = call();
            if (r >= 0 || Errno.Last != Errno.EINTR) return r;
        }
    }
}
