using System.Collections;
using System.Runtime.InteropServices;
using KernelDebug.Native;
using KernelDebug.Syscall;
using Xunit;

namespace KernelDebug.Tests.Syscall;

public class SyscallInjectionTests
{
    private static InjectionRule Rule(string when) =>
        new SyscallInjection { Syscall = new[] { "openat" }, Error = "ENOENT", When = when }.Compile(Architecture.X64);

    private static int[] Injected(InjectionRule r, int calls) => Enumerable.Range(1, calls).Where(r.Matches).ToArray();

    [Theory]
    // strace(1), "when=": first; first+; first+step; first..last; first..last+step.
    [InlineData("3", new[] { 3 })]
    [InlineData("3+", new[] { 3, 4, 5, 6, 7, 8, 9, 10 })]
    [InlineData("2+3", new[] { 2, 5, 8 })]
    [InlineData("2..4", new[] { 2, 3, 4 })]
    [InlineData("2..7+2", new[] { 2, 4, 6 })]
    [InlineData("1..1+", new[] { 1 })]
    public void WhenSelectsTheInvocationsStraceDoes(string when, int[] expected) =>
        Assert.Equal(expected, Injected(Rule(when), 10));

    [Fact]
    public void WithoutWhenEveryInvocationIsInjected() => Assert.Equal(Enumerable.Range(1, 10), Injected(Rule(""), 10));

    [Theory]
    [InlineData("0")]
    [InlineData("65536")]
    [InlineData("3..2")]
    [InlineData("2+0")]
    [InlineData("x+")]
    [InlineData("1..65535")]
    public void RejectsWhenOutsideStracesRanges(string when)
    {
        var e = Assert.Throws<KernelDebugException>(() => Rule(when));
        Assert.Equal("InvalidInjection", e.ErrorId);
    }

    [Fact]
    public void ParsesStracesInjectText()
    {
        var i = SyscallInjection.Parse("openat,read:error=EACCES:signal=SIGUSR1:delay_enter=10ms:delay_exit=250:when=2+");
        Assert.Equal(new[] { "openat", "read" }, i.Syscall);
        Assert.Equal("EACCES", i.Error);
        Assert.Equal("SIGUSR1", i.Signal);
        Assert.Equal(TimeSpan.FromMilliseconds(10), i.DelayEnter);
        Assert.Equal(TimeSpan.FromTicks(2500), i.DelayExit);
        var r = i.Compile(Architecture.X64);
        Assert.Equal(13, r.Errno);
        Assert.Equal(10, r.Signal);
        Assert.Equal(new HashSet<int> { 257, 0 }, r.Syscalls);
        Assert.Equal(5, SyscallInjection.Parse("getppid:retval=5").Compile(Architecture.X64).ReturnValue);
    }

    [Fact]
    public void TakesHashtableKeysInAnyCaseAndStracesSpellings()
    {
        var i = SyscallInjection.FromDictionary(new Hashtable { ["syscall"] = new[] { "openat" }, ["RETVAL"] = 7, ["delay_enter"] = 100, ["when"] = "2" });
        Assert.Equal(7, i.ReturnValue);
        Assert.Equal(TimeSpan.FromTicks(1000), i.DelayEnter);
        Assert.Throws<ArgumentException>(() => SyscallInjection.FromDictionary(new Hashtable { ["Syscall"] = "openat", ["Errror"] = "ENOENT" }));
    }

    [Theory]
    [InlineData("ENOENT", 2)]
    [InlineData("enoent", 2)]
    [InlineData("4095", 4095)]
    [InlineData("EHWPOISON", 133)]
    public void ErrnoNamesAndNumbers(string text, int errno)
    {
        Assert.True(ErrnoNames.TryNumber(text, out int n));
        Assert.Equal(errno, n);
    }

    [Theory]
    [InlineData("ENOPE")]
    [InlineData("0")]
    [InlineData("4096")]
    public void RejectsUnknownErrnos(string text) => Assert.False(ErrnoNames.TryNumber(text, out _));

    [Fact]
    public void RequiresPtraceNamesThePtraceOnlyOptionsInUse()
    {
        Assert.Empty(new SyscallTraceOptions().RequiresPtrace);
        var o = new SyscallTraceOptions { Inject = new[] { Rule("1") }, DecodeFd = FdDecoding.Path, StackTrace = true };
        Assert.Equal(new[] { "Inject", "DecodeFd", "StackTrace" }, o.RequiresPtrace);
        Assert.Equal(SyscallTraceOptions.PtraceOnlyParameters, o.RequiresPtrace);
    }
}
