using KernelDebug.Probes;
using Xunit;

namespace KernelDebug.Tests.Probes;

public class ProbeValidatorTests
{
    private static readonly FixtureProbeEnvironment Env = new();

    private static void Refused(string command, ProbeEventsFile file, ProbeErrorKind kind, int column, IProbeEnvironment? env = null)
    {
        var e = ProbeValidator.Validate(command, file, env ?? Env);
        Assert.True(e is not null, $"accepted: {command}");
        Assert.Equal((kind, column), (e!.Kind, e.Position));
    }

    private static void Accepted(string command, ProbeEventsFile file, IProbeEnvironment? env = null) =>
        Assert.Null(ProbeValidator.Validate(command, file, env ?? Env));

    /// <summary>Every verdict the 6.1 debug kernel wrote to error_log (fixture), checked with that kernel's rules.</summary>
    [Fact]
    public void AgreesWithTheKernelsErrorLogOnKprobesAndEprobes()
    {
        var text = File.ReadAllText(Path.Combine(FixtureProbeEnvironment.FixtureDir, "kernel-6.1-probe-errors.txt"));
        Assert.StartsWith("6.1.", text);
        var env61 = new FixtureProbeEnvironment { KernelVersion = new Version(6, 1) };
        var blocks = text.Split("@@").Skip(1).ToList();
        int compared = 0;
        foreach (var block in blocks)
        {
            var first = block.Split('\n')[0];
            if (first == "done") continue;
            var verdict = first[..first.IndexOf(':')];
            var command = first[(first.IndexOf(':') + 2)..];
            var file = command[0] == 'e' ? ProbeEventsFile.DynamicEvents : ProbeEventsFile.KprobeEvents;
            var mine = ProbeValidator.Validate(command, file, env61);
            if (verdict == "accepted") { Assert.True(mine is null, $"{command}: {mine}"); compared++; continue; }
            var entry = TraceErrorLog.Parse(block[(block.IndexOf('\n') + 1)..]).First();
            Assert.Equal(command, entry.Command);
            var kernelKind = ProbeErrors.FromText(entry.Message);
            Assert.NotNull(kernelKind);
            Assert.True(mine is not null, $"accepted, the kernel refused: {command}");
            var expected = kernelKind!.Value;
            Assert.True(expected == mine!.Kind && entry.Position == mine.Position,
                $"{command}\n kernel: {entry.Message} @ {entry.Position}\n mine:   {mine.Message} @ {mine.Position}");
            compared++;
        }
        Assert.True(compared >= 35, $"only {compared} fixture verdicts");
    }

    public static IEnumerable<object[]> Malformed()
    {
        var U = ProbeEventsFile.UprobeEvents;
        var K = ProbeEventsFile.KprobeEvents;
        var D = ProbeEventsFile.DynamicEvents;
        var e64 = new string('e', 64);
        var g64 = new string('g', 64);
        var args129 = string.Concat(Enumerable.Range(1, 129).Select(i => $" a{i}=%ax"));
        // command, file, kind, column
        return new List<object[]>
        {
            new object[] { "p:g/e /bin/bash:0x100 a=%foo", U, ProbeErrorKind.BadRegName, 24 },
            new object[] { "p:g/e /bin/bash:0x100 a=%rax", U, ProbeErrorKind.BadRegName, 24 },
            new object[] { "p:g/e /bin/bash:0x100 a=$retval", U, ProbeErrorKind.RetvalOnProbe, 24 },
            new object[] { "p:g/e vfs_read a=$retval", K, ProbeErrorKind.RetvalOnProbe, 17 },
            new object[] { "p:g/e /bin/bash:0xzz", U, ProbeErrorKind.BadUprobeOffs, 16 },
            new object[] { "p:g/e /bin/bash:0x100%foo", U, ProbeErrorKind.BadAddrSuffix, 21 },
            new object[] { "p:g/e /nonexistent:0x100", U, ProbeErrorKind.FileNotFound, 6 },
            new object[] { "p:g/e /dev/null:0x100", U, ProbeErrorKind.NoRegularFile, 6 },
            new object[] { "p:g/e no_such_function", K, ProbeErrorKind.BadProbeAddr, 6 },
            new object[] { "r:g/e vfs_read+8", K, ProbeErrorKind.BadRetprobe, 6 },
            new object[] { "p:g/e vfs_read+zz", K, ProbeErrorKind.BadProbeAddr, 6 },
            new object[] { "p:g/e /bin/bash:0x100 a=%ax:u128", U, ProbeErrorKind.BadType, 28 },
            new object[] { "p:g/e /bin/bash:0x100 a=%ax:symbol", U, ProbeErrorKind.BadType, 28 },
            new object[] { "p:g/e /bin/bash:0x100 a=%ax:string", U, ProbeErrorKind.BadString, 28 },
            new object[] { "p:g/e /bin/bash:0x100 a=%ax:b3@30/32", U, ProbeErrorKind.BadBitfield, 28 },
            new object[] { "p:g/e /bin/bash:0x100 a=%ax:u8[0]", U, ProbeErrorKind.BadArrayNum, 31 },
            new object[] { "p:g/e /bin/bash:0x100 a=%ax:u8[65]", U, ProbeErrorKind.ArrayTooBig, 31 },
            new object[] { "p:g/e /bin/bash:0x100 a=+0(%ax):u8[2", U, ProbeErrorKind.ArrayNoClose, 36 },
            new object[] { "p:g/e /bin/bash:0x100 a=+0(%ax):u8[2]x", U, ProbeErrorKind.BadArraySuffix, 37 },
            new object[] { $"p:g/{e64} /bin/bash:0x100", U, ProbeErrorKind.EventTooLong, 4 },
            new object[] { $"p:{g64}/e /bin/bash:0x100", U, ProbeErrorKind.GroupTooLong, 2 },
            new object[] { "p:1g/e /bin/bash:0x100", U, ProbeErrorKind.BadGroupName, 2 },
            new object[] { "p:g/1e /bin/bash:0x100", U, ProbeErrorKind.BadEventName, 4 },
            new object[] { "p:g/e.x /bin/bash:0x100", U, ProbeErrorKind.BadEventName, 4 },
            new object[] { "p:/e /bin/bash:0x100", U, ProbeErrorKind.NoGroupName, 2 },
            new object[] { "p:g/e /bin/bash:0x100" + args129, U, ProbeErrorKind.TooManyArgs, 22 },
            new object[] { "p:g/e vfs_read" + args129, K, ProbeErrorKind.TooManyArgs, 15 },
            new object[] { "p:g/e /bin/bash:0x100 a=$foo", U, ProbeErrorKind.BadVar, 24 },
            new object[] { "p:g/e /bin/bash:0x100 a=$stackx", U, ProbeErrorKind.BadVar, 24 },
            new object[] { "p:g/e /bin/bash:0x100 a=$arg1", U, ProbeErrorKind.NofentryArgs, 24 },
            new object[] { "p:g/e vfs_read a=$arg0", K, ProbeErrorKind.BadArgNum, 17 },
            new object[] { "p:g/e /bin/bash:0x100 a=@sym", U, ProbeErrorKind.SymOnUprobe, 24 },
            new object[] { "p:g/e vfs_read a=@+10", K, ProbeErrorKind.FileOnKprobe, 17 },
            new object[] { "p:g/e /bin/bash:0x100 a=\\x", U, ProbeErrorKind.BadImm, 25 },
            new object[] { "p:g/e /bin/bash:0x100 a=\\\"abc", U, ProbeErrorKind.ImmstrNoClose, 29 },
            new object[] { "p:g/e /bin/bash:0x100 a=$comm:u32", U, ProbeErrorKind.NeedStringType, 30 },
            new object[] { "p:g/e /bin/bash:0x100 a=+0($comm)", U, ProbeErrorKind.CommCantDeref, 27 },
            new object[] { "p:g/e /bin/bash:0x100 a=+0%ax", U, ProbeErrorKind.DerefNeedBrace, 24 },
            new object[] { "p:g/e /bin/bash:0x100 a=+zz(%ax)", U, ProbeErrorKind.BadDerefOffs, 24 },
            new object[] { "p:g/e /bin/bash:0x100 a=+0(%ax", U, ProbeErrorKind.DerefOpenBrace, 30 },
            new object[] { "p:g/e /bin/bash:0x100 a=" + string.Concat(Enumerable.Repeat("+0(", 16)) + "%ax" + new string(')', 16), U, ProbeErrorKind.ArgTooLong, 24 },
            new object[] { "p:g/e /bin/bash:0x100 a=" + string.Concat(Enumerable.Repeat("+0(", 15)) + "%ax" + new string(')', 15), U, ProbeErrorKind.TooManyOps, 27 },
            new object[] { "p:g/e /bin/bash:0x100 a=&1", U, ProbeErrorKind.BadFetchArg, 24 },
            new object[] { "p:g/e /bin/bash:0x100 a=", U, ProbeErrorKind.NoArgBody, 24 },
            new object[] { "p:g/e /bin/bash:0x100 =%ax", U, ProbeErrorKind.NoArgName, 22 },
            new object[] { "p:g/e /bin/bash:0x100 1a=%ax", U, ProbeErrorKind.BadArgName, 22 },
            new object[] { "p:g/e /bin/bash:0x100 a=%ax a=%bx", U, ProbeErrorKind.UsedArgName, 28 },
            new object[] { "p:g/e /bin/bash:0x100 common_pid=%ax", U, ProbeErrorKind.UsedArgName, 22 },
            new object[] { "p:g/e /bin/bash:0x100 " + new string('n', 33) + "=%ax", U, ProbeErrorKind.ArgNameTooLong, 22 },
            new object[] { "p:g/e /bin/bash:0x100(5", U, ProbeErrorKind.RefcntOpenBrace, 23 },
            new object[] { "p:g/e /bin/bash:0x100(zz)", U, ProbeErrorKind.BadRefcnt, 22 },
            new object[] { "p:g/e /bin/bash:0x100(5)x", U, ProbeErrorKind.BadRefcntSuffix, 24 },
            new object[] { "p4:g/e vfs_read", K, ProbeErrorKind.BadMaxactType, 1 },
            new object[] { "r99999:g/e vfs_read", K, ProbeErrorKind.MaxactTooBig, 1 },
            new object[] { "p:g/e /bin/bash:0x100 a=%ax\nr:g/x /bin/bash:0x100", U, ProbeErrorKind.UnsafeCharacter, 27 },
            new object[] { "p:g/e /bin/bash:0x100 a=%ax # comment", U, ProbeErrorKind.UnsafeCharacter, 28 },
            new object[] { "p:g/e /bin/bash:0x100 a=%ax;b=%bx", U, ProbeErrorKind.UnsafeCharacter, 27 },
            new object[] { "e:g/e syscalls.sys_enter_openat a=%ax", D, ProbeErrorKind.BadVar, 34 },
            new object[] { "e:g/e syscalls.sys_enter_openat a=$nofield", D, ProbeErrorKind.BadVar, 32 },
            new object[] { "e:g/e syscalls.no_such_event", D, ProbeErrorKind.BadAttachEvent, 6 },
            new object[] { "e:g/e sys_enter_openat", D, ProbeErrorKind.NoEventInfo, 6 },
            new object[] { "e:g/e syscalls.sys_enter_openat a=$filename if", D, ProbeErrorKind.NoEpFilter, 47 },
            new object[] { "f:g/e vfs_read a=%ax", D, ProbeErrorKind.BadVar, 17 },
            new object[] { "f:g/e vfs_read%foo", D, ProbeErrorKind.BadAddrSuffix, 14 },
            new object[] { "f:g/e no_such_function", D, ProbeErrorKind.BadProbeAddr, 6 },
            new object[] { "fx:g/e vfs_read", D, ProbeErrorKind.BadMaxact, 1 },
            new object[] { "t:g/e sched-switch", D, ProbeErrorKind.BadTpName, 11 },
            new object[] { "t:g/e no_such_tracepoint", D, ProbeErrorKind.NoTracepoint, 6 },
            new object[] { "t:g/e sched_switch%return", D, ProbeErrorKind.BadAddrSuffix, 18 },
            new object[] { "x:g/e vfs_read", D, ProbeErrorKind.UnknownProbeType, 0 },
        };
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void RefusesMalformedDefinitionsWithTheKernelsKindAndColumn(string command, ProbeEventsFile file, ProbeErrorKind kind, int column) =>
        Refused(command, file, kind, column);

    [Fact]
    public void HasAtLeastFortyMalformedCases() => Assert.True(Malformed().Count() >= 40);

    [Theory]
    [InlineData("p:g/e /bin/bash:0x100 a=+0(%ax):string b=$stack3 c=$stack d=%ip e=%flags f=%orig_ax g=%r15:s32 h=%cs i=%ss")]
    [InlineData("r:g/e /bin/bash:0x100 a=$retval:s32 b=$comm c=\\\"hi\" d=\\42 e=@0x1000 f=@+0x10 g=-8(%sp):x16 h=+u8(%ax):b4@4/8")]
    [InlineData("p:g/e /bin/bash:0x100%return(0x10) a=+0(%ax):u8[64] b=+0(%ax):ustring")]
    [InlineData("p:g/ /bin/bash:0x100")]
    public void AcceptsValidUprobes(string command) => Accepted(command, ProbeEventsFile.UprobeEvents);

    [Theory]
    [InlineData("p:g/e vfs_read a=%di:s32 b=+0(%si):string c=$arg1 d=$stack0 e=@vfs_read f=%ip:symbol g=%sp:symstr")]
    [InlineData("r16:g/e vfs_read ret=$retval:s64 a=$arg2")]
    [InlineData("p:g/e 0xffffffff81000000 a=%ax")]
    [InlineData("p:g/e vfs_read+4 a=%ax")]
    [InlineData("p:g/e vfs_read%return a=$retval")]
    public void AcceptsValidKprobes(string command) => Accepted(command, ProbeEventsFile.KprobeEvents);

    [Theory]
    [InlineData("e:g/e syscalls.sys_enter_openat a=+0($filename):string b=$comm c=$dfd:x32")]
    [InlineData("e:g/e syscalls/sys_enter_openat f=$flags if flags > 0")]
    [InlineData("f:g/e vfs_read a=$arg1 s=$stack0")]
    [InlineData("f:g/e vfs_read%return r=$retval")]
    [InlineData("t:g/e sched_switch")]
    public void AcceptsValidDynamicEvents(string command) => Accepted(command, ProbeEventsFile.DynamicEvents);

    [Fact]
    public void RegistersArePerArchitecture()
    {
        var arm = new FixtureProbeEnvironment { Architecture = "aarch64" };
        Accepted("p:g/e /bin/bash:0x100 a=%x0 b=%x30 c=%lr d=%sp e=%pc f=%pstate", ProbeEventsFile.UprobeEvents, arm);
        Refused("p:g/e /bin/bash:0x100 a=%ax", ProbeEventsFile.UprobeEvents, ProbeErrorKind.BadRegName, 24, arm);
        Refused("p:g/e /bin/bash:0x100 a=%x31", ProbeEventsFile.UprobeEvents, ProbeErrorKind.BadRegName, 24, arm);
        Refused("p:g/e /bin/bash:0x100 a=%x0", ProbeEventsFile.UprobeEvents, ProbeErrorKind.BadRegName, 24);
    }

    [Fact]
    public void BtfArgumentsNeedBtfAndAFunctionEntry()
    {
        Refused("p:g/e vfs_read count", ProbeEventsFile.KprobeEvents, ProbeErrorKind.NosupBtfarg, 15);
        Accepted("p:g/e vfs_read count", ProbeEventsFile.KprobeEvents, new FixtureProbeEnvironment { HasBtf = true });
        Refused("p:g/e vfs_read+4 count", ProbeEventsFile.KprobeEvents, ProbeErrorKind.NosupBtfarg, 17, new FixtureProbeEnvironment { HasBtf = true });
        Refused("p:g/e /bin/bash:0x100 abc=foo", ProbeEventsFile.UprobeEvents, ProbeErrorKind.NosupBtfarg, 26);
    }

    /// <summary>Verdicts that changed with Linux 6.5: the running kernel's version picks the kind (6.1 kinds: the fixture's).</summary>
    [Theory]
    [InlineData("p:g/e vfs_read+4 a=$arg1", "KprobeEvents", "BadVar", "NofentryArgs", 19)]
    [InlineData("p:g/e /bin/bash:0x100 a=$arg1", "UprobeEvents", "BadVar", "NofentryArgs", 24)]
    [InlineData("r:g/e vfs_read a=$arg1", "KprobeEvents", "BadVar", null, 17)]
    [InlineData("p:g/e vfs_read count", "KprobeEvents", "BadFetchArg", "NosupBtfarg", 15)]
    [InlineData("e:g/e syscalls.sys_enter_openat a=$nofield", "DynamicEvents", "BadAttachArg", "BadVar", 32)]
    public void VerdictsFollowTheRunningKernelsVersion(string command, string file, string before65, string? since65, int column)
    {
        var f = Enum.Parse<ProbeEventsFile>(file);
        Refused(command, f, Enum.Parse<ProbeErrorKind>(before65), column, new FixtureProbeEnvironment { KernelVersion = new Version(6, 1) });
        if (since65 is null) Accepted(command, f);
        else Refused(command, f, Enum.Parse<ProbeErrorKind>(since65), column);
        Assert.Equal(new Version(6, 1), HostProbeEnvironment.ParseRelease("6.1.0-28-amd64"));
        Assert.Equal(new Version(6, 18), HostProbeEnvironment.ParseRelease("6.18.0+"));
    }

    [Fact]
    public void NumbersFollowKstrtoul()
    {
        Assert.True(KernelNumber.TryParseUnsigned("0x1F", 0, out var h) && h == 31);
        Assert.True(KernelNumber.TryParseUnsigned("017", 0, out var o) && o == 15);
        Assert.True(KernelNumber.TryParseUnsigned("42\n", 0, out var d) && d == 42);
        Assert.False(KernelNumber.TryParseUnsigned("09", 0, out _));
        Assert.False(KernelNumber.TryParseUnsigned("0x", 0, out _));
        Assert.False(KernelNumber.TryParseUnsigned("18446744073709551616", 0, out _));
        Assert.False(KernelNumber.TryParseUnsigned("", 0, out _));
        Assert.True(KernelNumber.TryParseSigned("-8", 0, out var n) && n == -8);
        Assert.False(KernelNumber.TryParseSigned("-fuga", 0, out _));
    }
}
