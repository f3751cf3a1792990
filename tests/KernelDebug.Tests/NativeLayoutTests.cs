using System.Runtime.InteropServices;
using KernelDebug.Native;
using Xunit;

namespace KernelDebug.Tests;

public class NativeLayoutTests
{
    private static readonly (string Field, string CName, int Offset)[] PerfAttrFields =
    {
        (nameof(PerfEventAttr.Type), "type", 0), (nameof(PerfEventAttr.Size), "size", 4),
        (nameof(PerfEventAttr.Config), "config", 8), (nameof(PerfEventAttr.SamplePeriodOrFreq), "sample_period", 16),
        (nameof(PerfEventAttr.SampleType), "sample_type", 24), (nameof(PerfEventAttr.ReadFormat), "read_format", 32),
        (nameof(PerfEventAttr.WakeupEventsOrWatermark), "wakeup_events", 48), (nameof(PerfEventAttr.BpType), "bp_type", 52),
        (nameof(PerfEventAttr.Config1), "config1", 56), (nameof(PerfEventAttr.Config2), "config2", 64),
        (nameof(PerfEventAttr.BranchSampleType), "branch_sample_type", 72), (nameof(PerfEventAttr.SampleRegsUser), "sample_regs_user", 80),
        (nameof(PerfEventAttr.SampleStackUser), "sample_stack_user", 88), (nameof(PerfEventAttr.ClockId), "clockid", 92),
        (nameof(PerfEventAttr.SampleRegsIntr), "sample_regs_intr", 96), (nameof(PerfEventAttr.AuxWatermark), "aux_watermark", 104),
        (nameof(PerfEventAttr.SampleMaxStack), "sample_max_stack", 108), (nameof(PerfEventAttr.AuxSampleSize), "aux_sample_size", 112),
        (nameof(PerfEventAttr.SigData), "sig_data", 120), (nameof(PerfEventAttr.Config3), "config3", 128),
    };

    [Fact]
    public void PerfEventAttrMatchesTheUapiHeader()
    {
        Assert.Equal(136, Marshal.SizeOf<PerfEventAttr>());
        foreach (var (field, _, offset) in PerfAttrFields)
            Assert.Equal(offset, (int)Marshal.OffsetOf<PerfEventAttr>(field));

        // Where a C compiler and linux/perf_event.h are present, the numbers above are checked against the header itself.
        if (!File.Exists("/usr/include/linux/perf_event.h")) return;
        var c = CHeader.Evaluate("#include <linux/perf_event.h>",
            PerfAttrFields.Select(f => (f.CName, $"offsetof(struct perf_event_attr, {f.CName})" + f.CName switch
                {
                    "sig_data" => "@PERF_ATTR_SIZE_VER7",
                    "config3" => "@PERF_ATTR_SIZE_VER8",
                    _ => "",
                }))
                .Append(("ver8", "PERF_ATTR_SIZE_VER8@PERF_ATTR_SIZE_VER8")));
        if (c is null) return;
        if (c.TryGetValue("ver8", out var ver8)) Assert.Equal(PerfEventAttr.SizeVer8, ver8);
        Assert.True(c.Count >= 18, "the header should give at least the VER6 fields");
        foreach (var (field, cname, _) in PerfAttrFields.Where(f => c.ContainsKey(f.CName)))
            Assert.Equal(c[cname], (long)Marshal.OffsetOf<PerfEventAttr>(field));
    }

    [Fact]
    public void PollFdAndOpenFlagsMatchLibc()
    {
        Assert.Equal(8, Marshal.SizeOf<Interop.PollFd>());
        var c = CHeader.Evaluate("#include <poll.h>\n#include <fcntl.h>", new[]
        {
            ("pollfd", "sizeof(struct pollfd)"), ("O_APPEND", "O_APPEND"), ("O_CLOEXEC", "O_CLOEXEC"),
            ("O_NONBLOCK", "O_NONBLOCK"), ("O_TRUNC", "O_TRUNC"), ("O_CREAT", "O_CREAT"), ("O_NOFOLLOW", "O_NOFOLLOW"), ("O_NOCTTY", "O_NOCTTY"),
        });
        if (c is null) return;
        Assert.Equal(c["pollfd"], Marshal.SizeOf<Interop.PollFd>());
        Assert.Equal(Interop.O_APPEND, c["O_APPEND"]);
        Assert.Equal(Interop.O_CLOEXEC, c["O_CLOEXEC"]);
        Assert.Equal(Interop.O_NONBLOCK, c["O_NONBLOCK"]);
        Assert.Equal(Interop.O_TRUNC, c["O_TRUNC"]);
        Assert.Equal(Interop.O_CREAT, c["O_CREAT"]);
        Assert.Equal(Interop.O_NOFOLLOW, c["O_NOFOLLOW"]);
        Assert.Equal(Interop.O_NOCTTY, c["O_NOCTTY"]);
    }

    [Fact]
    public void SigactionAndStatxMatchTheHeaders()
    {
        // glibc's struct sigaction is the same size on x86_64 and aarch64; statx is a fixed uapi layout.
        var c = CHeader.Evaluate("#include <signal.h>\n#include <linux/stat.h>", new[]
        {
            ("sigaction", "sizeof(struct sigaction)"), ("sa_flags", "offsetof(struct sigaction, sa_flags)"),
            ("SA_NOCLDSTOP", "SA_NOCLDSTOP"), ("statx", "sizeof(struct statx)"), ("stx_mode", "offsetof(struct statx, stx_mode)"),
            ("stx_ino", "offsetof(struct statx, stx_ino)"), ("stx_size", "offsetof(struct statx, stx_size)"), ("stx_uid", "offsetof(struct statx, stx_uid)"),
            ("STATX_INO", "STATX_INO"), ("STATX_SIZE", "STATX_SIZE"), ("STATX_UID", "STATX_UID"),
        });
        if (c is null) return;
        Assert.Equal(c["sigaction"], Interop.SigactionSize);
        Assert.Equal(c["sa_flags"], Interop.SigactionFlagsOffset);
        Assert.Equal(c["SA_NOCLDSTOP"], Interop.SA_NOCLDSTOP);
        Assert.Equal(c["statx"], Interop.StatxSize);
        Assert.Equal(c["stx_mode"], Interop.StatxModeOffset);
        Assert.Equal(c["stx_ino"], Interop.StatxInoOffset);
        Assert.Equal(c["stx_size"], Interop.StatxSizeOffset);
        Assert.Equal(c["stx_uid"], Interop.StatxUidOffset);
        Assert.Equal(c["STATX_INO"], (long)Interop.STATX_INO);
        Assert.Equal(c["STATX_SIZE"], (long)Interop.STATX_SIZE);
        Assert.Equal(c["STATX_UID"], (long)Interop.STATX_UID);
    }

    [Fact]
    public void SyscallNumbersMatchThisArchitecture()
    {
        Assert.Equal(RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 298 : 241, SyscallNumbers.PerfEventOpen);
        Assert.Equal(RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 101 : 117, SyscallNumbers.Ptrace);
        var c = CHeader.Evaluate("#include <sys/syscall.h>", SyscallNumbers.Table.Keys.Select(n => (n, $"SYS_{n}")));
        if (c is null) return;
        foreach (var name in SyscallNumbers.Table.Keys)
            Assert.True(c[name] == SyscallNumbers.Of(name), $"{name}: the header says {c[name]}, SyscallNumbers says {SyscallNumbers.Of(name)}");
    }

    [Fact]
    public void Aarch64NumbersMatchTheGenericTable()
    {
        // aarch64 uses asm-generic/unistd.h, which every kernel-headers package ships: checked on any host.
        var c = CHeader.Evaluate("#include <asm-generic/unistd.h>", SyscallNumbers.Table.Keys.Select(n => (n, $"__NR_{n}")));
        if (c is null) return;
        foreach (var name in SyscallNumbers.Table.Keys)
        {
            long ours = SyscallNumbers.For(name, Architecture.Arm64);
            Assert.True(c[name] == ours, $"{name}: asm-generic/unistd.h says {c[name]}, SyscallNumbers says {ours} for aarch64");
        }
        Assert.Throws<PlatformNotSupportedException>(() => SyscallNumbers.For("bpf", Architecture.X86));
    }
}
