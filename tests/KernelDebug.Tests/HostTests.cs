using KernelDebug.Host;
using Xunit;

namespace KernelDebug.Tests;

public class HostTests
{
    [Fact]
    public void MountInfoLinesParseWithEscapes()
    {
        var e = MountTable.Parse(@"41 24 0:12 / /sys/kernel/my\040tracing rw,nosuid - tracefs nodev rw,mode=700");
        Assert.NotNull(e);
        Assert.Equal("/sys/kernel/my tracing", e!.MountPoint);
        Assert.Equal("tracefs", e.FileSystemType);
        Assert.Equal("nodev", e.Source);
        // Optional fields (shared:N master:M) sit before the separator.
        var f = MountTable.Parse("30 1 0:27 / /sys/kernel/debug rw,relatime shared:12 master:3 - debugfs debugfs rw");
        Assert.Equal("debugfs", f!.FileSystemType);
        Assert.Equal("/sys/kernel/debug", f.MountPoint);
        Assert.Null(MountTable.Parse("garbage"));
    }

    [Fact]
    public void ThisProcessSeesTracefsWhereMountinfoSaysIt()
    {
        var mounted = MountTable.Read().Where(m => m.FileSystemType == "tracefs").Select(m => m.MountPoint).ToList();
        if (mounted.Count == 0 && !KernelFileSystems.IsRoot) return;
        var path = KernelFileSystems.GetTraceFs();
        Assert.True(File.Exists(Path.Combine(path, "README")));
        Assert.Contains(path, MountTable.Read().Where(m => m.FileSystemType == "tracefs").Select(m => m.MountPoint));
    }

    [Fact]
    public void KernelConfigParsesSetUnsetAndValues()
    {
        var cfg = KernelConfig.Parse("test", "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"str\"\nCONFIG_D=m\n");
        Assert.True(cfg.IsEnabled("CONFIG_A"));
        Assert.True(cfg.IsEnabled("D"));
        Assert.False(cfg.IsEnabled("CONFIG_B"));
        Assert.Equal("n", cfg["B"]);
        Assert.Equal("str", cfg["CONFIG_C"]);
        Assert.Null(cfg["CONFIG_E"]);
    }

    [Fact]
    public void ControlFilesReadToTheEndDespiteReportingSizeZero()
    {
        var text = ControlFile.ReadText("/proc/self/status");
        Assert.Contains("Pid:", text);
        Assert.Null(ControlFile.TryReadText("/proc/nonexistent-kd", out var errno));
        Assert.Equal(KernelDebug.Native.Errno.ENOENT, errno);
    }

    [Fact]
    public void ProgramsAreFoundOnPathAndRunWithoutAShell()
    {
        var sh = ProgramLocator.Find("true");
        Assert.NotNull(sh);
        var r = ProgramLocator.Run(ProgramLocator.Find("echo")!, new[] { "a;b", "$HOME" }, TimeSpan.FromSeconds(10));
        Assert.Equal("a;b $HOME\n", r!.Value.StdOut);
        Assert.Null(ProgramLocator.Find("kerneldebug-no-such-program"));
    }
}
