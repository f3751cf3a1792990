using System.Management.Automation;
using KernelDebug.Commands;
using KernelDebug.Native;
using Xunit;

namespace KernelDebug.Tests;

public class ErrnoTests
{
    [Theory]
    [InlineData(Errno.EPERM, ErrorCategory.PermissionDenied)]
    [InlineData(Errno.EACCES, ErrorCategory.PermissionDenied)]
    [InlineData(Errno.ENOENT, ErrorCategory.ObjectNotFound)]
    [InlineData(Errno.ESRCH, ErrorCategory.ObjectNotFound)]
    [InlineData(Errno.EINVAL, ErrorCategory.InvalidArgument)]
    [InlineData(Errno.EBUSY, ErrorCategory.ResourceBusy)]
    [InlineData(Errno.EEXIST, ErrorCategory.ResourceExists)]
    public void TheDocumentedMap(int errno, ErrorCategory expected) => Assert.Equal(expected, Errno.ToCategory(errno));

    [Fact]
    public void NoErrnoMapsToNotSpecified()
    {
        for (int e = 1; e < 600; e++) Assert.NotEqual(ErrorCategory.NotSpecified, Errno.ToCategory(e));
    }

    [Fact]
    public void AFailedOpenCarriesErrnoIdAndCategory()
    {
        var ex = Assert.Throws<KernelDebugException>(() => Interop.Open("/nonexistent/kerneldebug", Interop.O_RDONLY));
        Assert.Equal(Errno.ENOENT, ex.Errno);
        Assert.Equal("open.ENOENT", ex.ErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, ex.Category);
        Assert.Contains("/nonexistent/kerneldebug", ex.Message);

        var record = ex.ToErrorRecord();
        Assert.Equal("open.ENOENT", record.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, record.CategoryInfo.Category);
    }

    [Fact]
    public void PermissionErrorsCarryARemedy()
    {
        var ex = new KernelDebugException(Errno.EPERM, "perf_event_open", "cycles");
        var record = ex.ToErrorRecord();
        Assert.Equal(ErrorCategory.PermissionDenied, record.CategoryInfo.Category);
        Assert.Contains("root", record.ErrorDetails.RecommendedAction);
    }

    [Fact]
    public void UserStringsWithControlCharactersAreRefused()
    {
        var ex = Assert.Throws<KernelDebugException>(() => KernelDebug.Host.UserInput.EnsureSingleLine("p:ok\np:evil", "Name"));
        Assert.Equal(4, ex.Position);
        Assert.Equal(ErrorCategory.InvalidArgument, ex.Category);
        Assert.Throws<KernelDebugException>(() => KernelDebug.Host.UserInput.EnsureNoSeparators("a;b", "Name"));
        Assert.Equal("vfs_read", KernelDebug.Host.UserInput.EnsureNoSeparators("vfs_read", "Name"));
    }
}
