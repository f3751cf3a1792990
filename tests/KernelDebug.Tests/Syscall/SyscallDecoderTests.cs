using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using KernelDebug.Native;
using KernelDebug.Syscall;
using Xunit;

namespace KernelDebug.Tests.Syscall;

public class SyscallDecoderTests
{
    [Theory]
    [InlineData("abc", false, "\"abc\"")]
    [InlineData("a\"b\\c\n\t", false, "\"a\\\"b\\\\c\\n\\t\"")]
    [InlineData("abc", true, "\"abc\"...")]
    public void QuotesAsStraceDoes(string text, bool truncated, string expected) =>
        Assert.Equal(expected, SyscallDecoder.Quote(Encoding.ASCII.GetBytes(text), truncated));

    [Fact]
    public void OctalEscapesWidenBeforeADigit()
    {
        // strace: "\177ELF\2\1\1\3\0\0" and "\0001" (three digits when a digit follows).
        Assert.Equal("\"\\177ELF\\2\\1\"", SyscallDecoder.Quote(new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F', 2, 1 }, false));
        Assert.Equal("\"\\0001\"", SyscallDecoder.Quote(new byte[] { 0, (byte)'1' }, false));
    }

    [Fact]
    public void DecodesInetAndUnixSockaddrs()
    {
        var inet = new byte[16];
        inet[0] = 2; inet[2] = 0; inet[3] = 80; inet[4] = 127; inet[7] = 1;
        var a = SyscallDecoder.DecodeSockaddr("addr", 0x1000, inet);
        Assert.Equal("{sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr(\"127.0.0.1\")}", a.Text);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 80), a.Value);

        var unix = new byte[2 + 9];
        unix[0] = 1;
        Encoding.ASCII.GetBytes("/run/x.s").CopyTo(unix, 2);
        var u = SyscallDecoder.DecodeSockaddr("addr", 0x1000, unix);
        Assert.Equal("{sa_family=AF_UNIX, sun_path=\"/run/x.s\"}", u.Text);
        Assert.Equal("/run/x.s", u.Value);
    }

    [Fact]
    public void PtraceSyscallInfoMatchesTheUapiHeader()
    {
        Assert.Equal(88, Marshal.SizeOf<Interop.PtraceSyscallInfo>());
        var c = CHeader.Evaluate("#include <linux/ptrace.h>", new[]
        {
            ("size", "sizeof(struct ptrace_syscall_info)"),
            ("nr", "offsetof(struct ptrace_syscall_info, entry.nr)"),
            ("args", "offsetof(struct ptrace_syscall_info, entry.args)"),
            ("rval", "offsetof(struct ptrace_syscall_info, exit.rval)"),
            ("is_error", "offsetof(struct ptrace_syscall_info, exit.is_error)"),
            ("ret_data", "offsetof(struct ptrace_syscall_info, seccomp.ret_data)"),
            ("get_info", "PTRACE_GET_SYSCALL_INFO"),
            ("seize", "PTRACE_SEIZE"),
        });
        if (c is null) return;
        Assert.Equal(88, c["size"]);
        Assert.Equal((long)Marshal.OffsetOf<Interop.PtraceSyscallInfo>(nameof(Interop.PtraceSyscallInfo.Nr)), c["nr"]);
        Assert.Equal(32, c["args"]);
        Assert.Equal((long)Marshal.OffsetOf<Interop.PtraceSyscallInfo>(nameof(Interop.PtraceSyscallInfo.ReturnValue)), c["rval"]);
        Assert.Equal((long)Marshal.OffsetOf<Interop.PtraceSyscallInfo>(nameof(Interop.PtraceSyscallInfo.IsError)), c["is_error"]);
        Assert.Equal((long)Marshal.OffsetOf<Interop.PtraceSyscallInfo>(nameof(Interop.PtraceSyscallInfo.RetData)), c["ret_data"]);
        Assert.Equal(Interop.PTRACE_GET_SYSCALL_INFO, c["get_info"]);
        Assert.Equal(Interop.PTRACE_SEIZE, c["seize"]);
    }

    [Fact]
    public void FlagConstantsMatchTheHeaders()
    {
        var c = CHeader.Evaluate("#include <linux/fcntl.h>\n#include <linux/mman.h>\n#include <linux/sched.h>", new[]
        {
            ("O_CLOEXEC", "O_CLOEXEC"), ("O_DIRECTORY", "O_DIRECTORY"), ("O_NOFOLLOW", "O_NOFOLLOW"), ("O_TMPFILE", "O_TMPFILE@O_TMPFILE"),
            ("MAP_ANONYMOUS", "MAP_ANONYMOUS"), ("MAP_DENYWRITE", "MAP_DENYWRITE"), ("MAP_FIXED_NOREPLACE", "MAP_FIXED_NOREPLACE@MAP_FIXED_NOREPLACE"),
            ("CLONE_THREAD", "CLONE_THREAD"), ("CLONE_SETTLS", "CLONE_SETTLS"), ("AT_EMPTY_PATH", "AT_EMPTY_PATH"),
        });
        if (c is null) return;
        var arch = RuntimeInformation.ProcessArchitecture;
        var open = SyscallConstants.OpenFlags(arch).ToDictionary(f => f.Name, f => (long)f.Value);
        foreach (var n in new[] { "O_CLOEXEC", "O_DIRECTORY", "O_NOFOLLOW", "O_TMPFILE" })
            if (c.ContainsKey(n)) Assert.Equal(c[n], open[n]);
        var map = SyscallConstants.MapFlags.ToDictionary(f => f.Item2, f => (long)f.Item1);
        foreach (var n in new[] { "MAP_ANONYMOUS", "MAP_DENYWRITE", "MAP_FIXED_NOREPLACE" })
            if (c.ContainsKey(n)) Assert.Equal(c[n], map[n]);
        var clone = SyscallConstants.CloneFlags.ToDictionary(f => f.Item2, f => (long)f.Item1);
        Assert.Equal(c["CLONE_THREAD"], clone["CLONE_THREAD"]);
        Assert.Equal(c["CLONE_SETTLS"], clone["CLONE_SETTLS"]);
        Assert.Equal(c["AT_EMPTY_PATH"], (long)SyscallConstants.AtFlags.Single(f => f.Item2 == "AT_EMPTY_PATH").Item1);
    }
}

public class SeccompFilterTests
{
    [Fact]
    public void TracesOnlyTheSelectedSyscalls()
    {
        var p = SeccompFilter.Build(new[] { 257, 2, 59 }, Architecture.X64);
        Assert.Equal(SeccompFilter.RetTrace, SeccompFilter.Evaluate(p, SeccompFilter.AuditArchX64, 257));
        Assert.Equal(SeccompFilter.RetTrace, SeccompFilter.Evaluate(p, SeccompFilter.AuditArchX64, 2));
        Assert.Equal(SeccompFilter.RetTrace, SeccompFilter.Evaluate(p, SeccompFilter.AuditArchX64, 59));
        Assert.Equal(SeccompFilter.RetAllow, SeccompFilter.Evaluate(p, SeccompFilter.AuditArchX64, 0));
        Assert.Equal(SeccompFilter.RetAllow, SeccompFilter.Evaluate(p, SeccompFilter.AuditArchX64, 1));
        // Another ABI (i386 compat) and x32 calls are traced, never silently allowed.
        Assert.Equal(SeccompFilter.RetTrace, SeccompFilter.Evaluate(p, 0x40000003, 5));
        Assert.Equal(SeccompFilter.RetTrace, SeccompFilter.Evaluate(p, SeccompFilter.AuditArchX64, 0x40000000 | 1));
    }

    [Fact]
    public void JumpsReachTheTraceReturnForTheLongestSelection()
    {
        var all = Enumerable.Range(0, SeccompFilter.MaxSyscalls).ToArray();
        var p = SeccompFilter.Build(all, Architecture.Arm64);
        foreach (var n in all) Assert.Equal(SeccompFilter.RetTrace, SeccompFilter.Evaluate(p, SeccompFilter.AuditArchArm64, n));
        Assert.Equal(SeccompFilter.RetAllow, SeccompFilter.Evaluate(p, SeccompFilter.AuditArchArm64, SeccompFilter.MaxSyscalls));
        Assert.Throws<ArgumentOutOfRangeException>(() => SeccompFilter.Build(Enumerable.Range(0, SeccompFilter.MaxSyscalls + 1).ToArray(), Architecture.X64));
    }

    [Fact]
    public void TheKernelAcceptsTheProgram()
    {
        // Loaded for real in a child by the launcher: the tracee runs, and an untraced call is not stopped.
        var filter = SeccompFilter.Build(new[] { (int)SyscallTable.ByName("openat")!.NumberFor(RuntimeInformation.ProcessArchitecture) }, RuntimeInformation.ProcessArchitecture);
        using var child = KernelDebug.Launch.ChildLauncher.StartStopped("/bin/true", Array.Empty<string>(), new KernelDebug.Launch.LaunchOptions { SeccompFilter = filter });
        child.Resume();
        var ws = child.WaitForExit();
        // Without a tracer RET_TRACE fails the call with ENOSYS; /bin/true still exits 0 after ld.so's failed openat.
        Assert.Equal(0, child.ExecErrorAfterExit());
        Assert.True(ws.Exited);
    }
}

public class AttachErrorTests
{
    [Theory]
    [InlineData("1", "ptrace_scope is 1", "descendants")]
    [InlineData("2", "ptrace_scope is 2", "CAP_SYS_PTRACE")]
    [InlineData("3", "ptrace_scope is 3", "Reboot")]
    [InlineData(null, "Operation not permitted", "CAP_SYS_PTRACE")]
    public void ExplainsYamaAsStraceDoes(string? scope, string message, string remedy)
    {
        var e = SyscallTracer.AttachError(Errno.EPERM, 42, 0, scope);
        Assert.Equal("PtraceNotPermitted", e.ErrorId);
        Assert.Equal(System.Management.Automation.ErrorCategory.PermissionDenied, e.Category);
        Assert.Contains(message, e.Message);
        Assert.Contains(remedy, e.Message + e.Remedy);
    }

    [Fact]
    public void NamesTheTracerOfAnAlreadyTracedProcess()
    {
        var e = SyscallTracer.AttachError(Errno.EPERM, 42, 77, "1");
        Assert.Equal("ProcessAlreadyTraced", e.ErrorId);
        Assert.Contains("77", e.Message);
        Assert.Equal("ProcessNotFound", SyscallTracer.AttachError(Errno.ESRCH, 42, 0, null).ErrorId);
        var named = SyscallTracer.AttachError(Errno.EPERM, 42, 77, "1", "pwsh", 79);
        Assert.Contains("process 77 (pwsh), from its thread 79", named.Message);
    }
}
