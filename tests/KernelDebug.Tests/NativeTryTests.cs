using System.Text.RegularExpressions;
using KernelDebug.Native;
using KernelDebug.Syscall;
using Xunit;

namespace KernelDebug.Tests;

/// <summary>The Try* native calls hand back the kernel's errno (so no code outside Native/ reads it), and the one errno-name table.</summary>
public class NativeTryTests
{
    [Fact]
    public void TryPtraceReturnsEsrchForAPidThatDoesNotExist()
    {
        Assert.Equal(Errno.ESRCH, Interop.TryPtrace(Interop.PTRACE_SEIZE, UnusedPid(), 0, 0));
    }

    [Fact]
    public void TryWaitPidReturnsEchildWithoutThatChild()
    {
        Assert.Equal(Errno.ECHILD, Interop.TryWaitPid(UnusedPid(), out _, Interop.WNOHANG, out int pid));
        Assert.Equal(-1, pid);
    }

    [Fact]
    public void TryPerfEventOpenGivesAHandleOrTheErrno()
    {
        // A software task-clock counter on this process is allowed at any perf_event_paranoid up to 2.
        var attr = new PerfEventAttr { Type = (uint)PerfTypeId.Software, Config = 1, Flags = (ulong)(PerfAttrFlags.Disabled | PerfAttrFlags.ExcludeKernel | PerfAttrFlags.ExcludeHv) };
        int error = Interop.TryPerfEventOpen(ref attr, 0, -1, -1, out var handle);
        if (error == 0)
        {
            using (handle) { Assert.NotNull(handle); Assert.False(handle!.IsInvalid); }
        }
        else Assert.Contains(error, new[] { Errno.EACCES, Errno.EPERM, Errno.ENOENT });
        var bad = new PerfEventAttr { Type = 0xfffff, Config = 0 };
        Assert.NotEqual(0, Interop.TryPerfEventOpen(ref bad, 0, -1, -1, out var none));
        Assert.Null(none);
    }

    [Fact]
    public void TryReadReturnsEagainOnAnEmptyNonBlockingPipe()
    {
        var (read, write) = Interop.Pipe();
        using (read)
        using (write)
        {
            using var nonBlocking = Interop.Open($"/proc/self/fd/{read.Fd}", Interop.O_RDONLY | Interop.O_NONBLOCK);
            Assert.Equal(Errno.EAGAIN, Interop.TryRead(nonBlocking, new byte[16], out int n));
            Assert.Equal(0, n);
        }
    }

    [Fact]
    public void MemfdCreateReturnsAHandle()
    {
        using var memfd = Interop.MemfdCreate("kerneldebug-test");
        Assert.False(memfd.IsInvalid);
        Assert.StartsWith("/memfd:kerneldebug-test", new FileInfo($"/proc/self/fd/{memfd.Fd}").LinkTarget);
    }

    [Fact]
    public void TheErrnoTableNamesEveryNumberTheKernelHeadersDefine()
    {
        // Oracle: the installed asm-generic headers; a number with aliases (EAGAIN/EWOULDBLOCK) may carry any of them.
        var headers = new[] { "/usr/include/asm-generic/errno-base.h", "/usr/include/asm-generic/errno.h" }.Where(File.Exists).ToList();
        if (headers.Count < 2) return; // no kernel headers on this host
        var byNumber = new Dictionary<int, HashSet<string>>();
        foreach (var h in headers)
            foreach (Match m in Regex.Matches(File.ReadAllText(h), @"^#define\s+(E[A-Z0-9]+)\s+(\d+)\b", RegexOptions.Multiline))
            {
                int n = int.Parse(m.Groups[2].Value);
                if (!byNumber.TryGetValue(n, out var names)) byNumber[n] = names = new HashSet<string>();
                names.Add(m.Groups[1].Value);
            }
        Assert.True(byNumber.Count > 100);
        foreach (var (n, names) in byNumber)
        {
            Assert.True(Errno.TryName(n, out var name), $"errno {n} has no name");
            Assert.Contains(name, names);
            Assert.Equal(name, Errno.Name(n));
            Assert.Equal(name, ErrnoNames.Name(n));
        }
        Assert.Equal("E9999", Errno.Name(9999));
        Assert.Equal("errno 9999", ErrnoNames.Name(9999));
        Assert.Equal("ERESTARTSYS", ErrnoNames.Name(512));
    }

    private static int UnusedPid()
    {
        int max = int.Parse(File.ReadAllText("/proc/sys/kernel/pid_max").Trim());
        for (int pid = max - 1; pid > 1; pid--) if (!Directory.Exists($"/proc/{pid}")) return pid;
        throw new InvalidOperationException("no unused pid");
    }
}
