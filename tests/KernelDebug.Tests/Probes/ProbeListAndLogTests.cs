using KernelDebug.Probes;
using Xunit;

namespace KernelDebug.Tests.Probes;

public class ProbeListAndLogTests
{
    private static string Section(string name)
    {
        var text = File.ReadAllText(Path.Combine(FixtureProbeEnvironment.FixtureDir, "kernel-6.1-probe-lists.txt"));
        var start = text.IndexOf("@@" + name + "\n", StringComparison.Ordinal) + name.Length + 3;
        var end = text.IndexOf("@@", start, StringComparison.Ordinal);
        return text[start..(end < 0 ? text.Length : end)];
    }

    [Fact]
    public void ParsesKprobeEventsAsTheKernelListsThem()
    {
        var list = ProbeListParser.ParseList(Section("kprobe_events"), "kprobe_events").ToList();
        Assert.Equal(5, list.Count);
        var ret = list.Single(d => d.Name == "vfsr_ret");
        Assert.Equal((ProbeKind.Kprobe, "kdfix", "vfs_read", true, 10), (ret.Kind, ret.Group, ret.Target, ret.IsReturn, ret.MaxActive!.Value));
        Assert.Equal(new ProbeArgument("ret", "$retval", "s64"), ret.Arguments.Single());
        var args = list.Single(d => d.Name == "args");
        Assert.Equal(new[] { "dfd", "name", "how", "flags", "c" }, args.Arguments.Select(a => a.Name));
        Assert.Equal(new ProbeArgument("name", "+0(%si)", "string"), args.Arguments[1]);
        Assert.Null(args.Arguments[2].Type);
        var stack = list.Single(d => d.Name == "stack");
        Assert.Equal(new ProbeArgument("arr", "+0(%si)", "u8[4]"), stack.Arguments.Last());
        Assert.Equal(new ProbeArgument("bits", "%ax", "b4@4/32"), stack.Arguments[4]);
        Assert.All(list, d => Assert.Equal(d.Definition, d.ToString()));
        // Every listed line is a definition the validator accepts again (round trip).
        var env = new FixtureProbeEnvironment();
        Assert.All(list, d => Assert.Null(ProbeValidator.Validate(d.Definition, ProbeEventsFile.KprobeEvents, env)));
    }

    [Fact]
    public void ParsesEveryKindInDynamicEvents()
    {
        var list = ProbeListParser.ParseList(Section("dynamic_events"), "dynamic_events").ToList();
        Assert.Equal(8, list.Count);
        var e = list.Single(d => d.Kind == ProbeKind.Eprobe);
        Assert.Equal(("kdfix", "openat_e", "syscalls.sys_enter_openat"), (e.Group, e.Name, e.Target));
        Assert.Equal(new ProbeArgument("file", "+0($filename)", "ustring"), e.Arguments[0]);
        var u = list.Single(d => d.Kind == ProbeKind.Uprobe);
        Assert.Equal(("/bin/busybox", 0x1000UL), (u.Target, u.Offset));
        var s = list.Single(d => d.Kind == ProbeKind.Synthetic);
        Assert.Equal(("synthetic", "kdfix_synth"), (s.Group, s.Name));
        Assert.Equal(5, list.Count(d => d.Kind == ProbeKind.Kprobe));
    }

    [Fact]
    public void ParsesUprobeEventsWithReferenceCounterAndReturn()
    {
        var d = ProbeListParser.Parse("r:kerneldebug/rl /usr/bin/bash:0x00000000000c6c20(0x1234) line=+0(%ax):string", "uprobe_events")!;
        Assert.Equal((ProbeKind.Uprobe, true, 0xc6c20UL, 0x1234UL), (d.Kind, d.IsReturn, d.Offset, d.ReferenceCounterOffset!.Value));
        Assert.True(d.IsOwned);
        Assert.Equal("kerneldebug/rl", d.FullName);
        var f = ProbeListParser.Parse("f:fprobes/vfs_read__exit vfs_read%return r=$retval", "dynamic_events")!;
        Assert.Equal((ProbeKind.Fprobe, true, "vfs_read"), (f.Kind, f.IsReturn, f.Target));
        var t = ProbeListParser.Parse("t:tracepoints/sched_switch sched_switch", "dynamic_events")!;
        Assert.Equal(ProbeKind.Tprobe, t.Kind);
    }

    [Fact]
    public void FindsTheNewErrorLogEntryByItsCommandLine()
    {
        var text = File.ReadAllText(Path.Combine(FixtureProbeEnvironment.FixtureDir, "kernel-6.1-probe-errors.txt"));
        var all = TraceErrorLog.Parse(text);
        Assert.True(all.Count >= 35);
        var eprobe = all.Where(x => x.Command == "e:kdfix/e2 syscalls.sys_enter_openat a=%ax").ToList();
        Assert.Equal(2, eprobe.Count);
        // Nothing before: the first matching entry (the cause), not the follow-up.
        var found = TraceErrorLog.FindNew(null, text, "e:kdfix/e2  syscalls.sys_enter_openat a=%ax");
        Assert.Equal(("event_probe", "Invalid $-variable specified", 39), (found!.Subsystem, found.Message, found.Position));
        // Entries already there before the write are not ours.
        Assert.Null(TraceErrorLog.FindNew(text, text, "p:kdfix/e1 vfs_read a=%foo"));
        Assert.Equal(ProbeErrorKind.BadMaxactType, ProbeErrors.FromText("Maxactive is not for kprobe"));
        Assert.Equal(ProbeErrorKind.BadVar, ProbeErrors.FromText("Invalid $-valiable specified"));
    }

    [Fact]
    public void BuildsDefinitionsAndRefusesInjection()
    {
        Assert.Equal("p:kerneldebug/rl /usr/bin/bash:0xc6c20 p=+0(%di):string",
            ProbeCommand.Uprobe("kerneldebug", "rl", "/usr/bin/bash", 0xc6c20, false, new[] { "p=+0(%di):string" }));
        Assert.Equal("r:g/e /lib/libc.so.6:0x10(0x20)", ProbeCommand.Uprobe("g", "e", "/lib/libc.so.6", 0x10, true, null, 0x20));
        Assert.Equal("r16:g/e mod:func", ProbeCommand.Kprobe("g", "e", "func", 0, "mod", null, true, 16));
        Assert.Equal("p:g/e vfs_read+4", ProbeCommand.Kprobe("g", "e", "vfs_read", 4, null, null, false, null));
        Assert.Equal("p:g/e 0xffff0000", ProbeCommand.Kprobe("g", "e", null, 0, null, 0xffff0000, false, null));
        Assert.Equal("e:g/e syscalls.sys_enter_openat f=$flags if flags > 0", ProbeCommand.Eprobe("g", "e", "syscalls:sys_enter_openat", new[] { "f=$flags" }, "flags > 0"));
        Assert.Equal("f:g/e vfs_read%return r=$retval", ProbeCommand.Fprobe("g", "e", "vfs_read", true, new[] { "r=$retval" }));
        Assert.Equal("t:g/e sched_switch", ProbeCommand.Tprobe("g", "e", "sched_switch"));
        foreach (var bad in new[] { "a=%ax\nr:x/y /bin/sh:0", "a=%ax b=%bx", "a=%ax#", "a;b", "a\u0007" })
        {
            var ex = Assert.Throws<KernelDebug.Native.KernelDebugException>(() => ProbeCommand.Uprobe("g", "e", "/bin/sh", 0, false, new[] { bad }));
            Assert.Equal("UnsafeUserString", ex.ErrorId);
        }
        Assert.Throws<KernelDebug.Native.KernelDebugException>(() => ProbeCommand.Uprobe("g\n", "e", "/bin/sh", 0, false));
        Assert.Throws<KernelDebug.Native.KernelDebugException>(() => ProbeCommand.Uprobe("g", "e", "/my dir/sh", 0, false));
    }
}
