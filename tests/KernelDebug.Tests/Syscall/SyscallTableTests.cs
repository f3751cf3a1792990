using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using KernelDebug.Native;
using KernelDebug.Syscall;
using Xunit;

namespace KernelDebug.Tests.Syscall;

public class SyscallTableTests
{
    private const string X64Header = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
    private const string GenericHeader = "/usr/include/asm-generic/unistd.h";

    [Fact]
    public void X64NumbersEqualTheInstalledHeader()
    {
        if (!File.Exists(X64Header)) return;
        var header = Regex.Matches(File.ReadAllText(X64Header), @"#define __NR_(\w+)\s+(\d+)")
            .ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value));
        var ours = SyscallTable.All.Where(s => s.X64Number >= 0).ToDictionary(s => s.Name, s => s.X64Number);
        Assert.True(header.Count > 300);
        Assert.Equal(header.OrderBy(k => k.Key), ours.OrderBy(k => k.Key));
    }

    [Fact]
    public void Arm64NumbersEqualTheGenericHeaderAsArm64IncludesIt()
    {
        if (!File.Exists(GenericHeader) || CHeader.Compiler is null) return;
        // arm64's uapi asm/unistd.h defines these before including asm-generic/unistd.h.
        var psi = new ProcessStartInfo(CHeader.Compiler) { RedirectStandardOutput = true, RedirectStandardInput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-E", "-dM", "-x", "c", "-", "-D__ARCH_WANT_RENAMEAT", "-D__ARCH_WANT_NEW_STAT", "-D__ARCH_WANT_SET_GET_RLIMIT",
                     "-D__ARCH_WANT_SYS_CLONE3", "-D__ARCH_WANT_MEMFD_SECRET", "-D__ARCH_WANT_TIME32_SYSCALLS" })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardInput.Write("#include <asm-generic/unistd.h>\n");
        p.StandardInput.Close();
        var macros = Regex.Matches(p.StandardOutput.ReadToEnd(), @"#define (__NR\w+) (\S+)")
            .ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
        p.WaitForExit();
        int Eval(string v) => int.TryParse(v, out var n) ? n : Eval(macros[v]);
        var header = macros.Keys.Where(k => k.StartsWith("__NR_") && k is not "__NR_syscalls" and not "__NR_arch_specific_syscall")
            .ToDictionary(k => k[5..], k => Eval(macros[k]));
        var ours = SyscallTable.All.Where(s => s.Arm64Number >= 0).ToDictionary(s => s.Name, s => s.Arm64Number);
        Assert.True(header.Count > 250);
        Assert.Equal(header.OrderBy(k => k.Key), ours.OrderBy(k => k.Key));
        Assert.Equal(56, SyscallTable.ByName("openat", Architecture.Arm64)!.Arm64Number);
        Assert.Null(SyscallTable.ByName("open", Architecture.Arm64));
    }

    [Fact]
    public void TheFoundationsNumbersAgreeWithTheTable()
    {
        foreach (var arch in new[] { Architecture.X64, Architecture.Arm64 })
        {
            Assert.Equal(SyscallNumbers.PickFor(arch, 298, 241), SyscallTable.ByName("perf_event_open", arch)!.NumberFor(arch));
            Assert.Equal(SyscallNumbers.PickFor(arch, 310, 270), SyscallTable.ByName("process_vm_readv", arch)!.NumberFor(arch));
            Assert.Equal(SyscallNumbers.PickFor(arch, 317, 277), SyscallTable.ByName("seccomp", arch)!.NumberFor(arch));
        }
    }

    [Fact]
    public void ClassesFollowStrace()
    {
        var file = SyscallTable.Resolve(new[] { "%file" }, Architecture.X64).Select(n => SyscallTable.NameOf(n, Architecture.X64)).ToHashSet();
        Assert.Contains("openat", file);
        Assert.Contains("execve", file);
        Assert.Contains("newfstatat", file);
        Assert.DoesNotContain("read", file);
        Assert.DoesNotContain("fstat", file); // fd-based: %desc, not %file
        var net = SyscallTable.Resolve(new[] { "%net" }, Architecture.X64).Select(n => SyscallTable.NameOf(n, Architecture.X64)).ToHashSet();
        Assert.Contains("connect", net);
        Assert.Contains("socket", net);
        Assert.DoesNotContain("write", net);
        Assert.Contains("mmap", SyscallTable.Resolve(new[] { "%memory" }, Architecture.Arm64).Select(n => SyscallTable.NameOf(n, Architecture.Arm64)));
        Assert.Contains("clone", SyscallTable.Resolve(new[] { "%process" }).Select(n => SyscallTable.NameOf(n)));
        Assert.Contains("rt_sigaction", SyscallTable.Resolve(new[] { "%signal" }).Select(n => SyscallTable.NameOf(n)));
    }

    [Fact]
    public void ResolveTakesNamesWildcardsAndExclusions()
    {
        var arch = Architecture.X64;
        Assert.Equal(new[] { 257 }, SyscallTable.Resolve(new[] { "openat" }, arch));
        var open = SyscallTable.Resolve(new[] { "open*" }, arch).Select(n => SyscallTable.NameOf(n, arch)).ToHashSet();
        Assert.Contains("open_by_handle_at", open);
        Assert.Contains("openat2", open);
        var notRead = SyscallTable.Resolve(new[] { "!read" }, arch);
        Assert.DoesNotContain(0, notRead);
        Assert.Contains(1, notRead);
        Assert.Equal(new[] { 0, 1 }, SyscallTable.Resolve(new[] { "read,write" }, arch).OrderBy(n => n));
    }

    [Fact]
    public void UnknownNamesFailWithASuggestion()
    {
        var e = Assert.Throws<KernelDebugException>(() => SyscallTable.Resolve(new[] { "opnat", "%files" }, Architecture.X64));
        Assert.Equal("UnknownSyscall", e.ErrorId);
        Assert.Contains("opnat", e.Message);
        Assert.Contains("%files", e.Message);
        Assert.Throws<KernelDebugException>(() => SyscallTable.Resolve(new[] { "open" }, Architecture.Arm64));
    }

    [Fact]
    public void SignaturesCarryTheKindsTheDecodersNeed()
    {
        var openat = SyscallTable.ByName("openat", Architecture.X64)!.ParametersFor(Architecture.X64);
        Assert.Equal(new[] { ArgumentKind.AtFd, ArgumentKind.Path, ArgumentKind.OpenFlags, ArgumentKind.Mode }, openat.Select(p => p.Kind));
        var write = SyscallTable.ByName("write")!.ParametersFor(Architecture.X64);
        Assert.Equal(2, write[1].LengthArgument);
        var clone = SyscallTable.ByName("clone", Architecture.Arm64)!.ParametersFor(Architecture.Arm64);
        Assert.Equal("tls", clone[3].Name);
        Assert.Equal("syscall_0x3e7", SyscallTable.NameOf(999, Architecture.X64));
    }
}
