using System.Text;
using KernelDebug.Memory;
using Xunit;

namespace KernelDebug.Tests.Memory;

public class KernelLogParserTests
{
    // The example of Documentation/ABI/testing/dev-kmsg (torvalds/linux 07c7b547a796).
    private const string DevKmsgExample =
        "7,160,424069,-;pci_root PNP0A03:00: host bridge window [io  0x0000-0x0cf7] (ignored)\n SUBSYSTEM=acpi\n DEVICE=+acpi:PNP0A03:00\n";

    [Fact]
    public void KmsgRecordOfTheAbiDocument()
    {
        var e = KmsgRecord.Parse(Encoding.ASCII.GetBytes(DevKmsgExample), new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc))!;
        Assert.Equal(160UL, e.Sequence);
        Assert.Equal(KernelLogLevel.Debug, e.Level);
        Assert.Equal(KernelLogFacility.Kern, e.Facility);
        Assert.Equal(TimeSpan.FromTicks(4240690), e.TimeSinceBoot);
        Assert.Equal("pci_root PNP0A03:00: host bridge window [io  0x0000-0x0cf7] (ignored)", e.Message);
        Assert.Equal("acpi", e.Subsystem);
        Assert.Equal("+acpi:PNP0A03:00", e.Device);
        Assert.Equal(new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(4240690), e.Timestamp!.Value.ToUniversalTime());
        Assert.False(e.IsContinued);
    }

    [Fact]
    public void KmsgRecordFacilityFromPriority()
    {
        // "30,340,5690716,-;udevd[80]: starting version 181" from the same document: daemon.info.
        var e = KmsgRecord.Parse(Encoding.ASCII.GetBytes("30,340,5690716,-;udevd[80]: starting version 181\n"), null)!;
        Assert.Equal(KernelLogFacility.Daemon, e.Facility);
        Assert.Equal(KernelLogLevel.Info, e.Level);
        Assert.Null(e.Timestamp);
    }

    [Theory]
    [InlineData(@"a\x5cb", "a\\b")]
    [InlineData(@"tab\x09end", "tab\tend")]
    [InlineData(@"caf\xc3\xa9", "café")]
    [InlineData(@"\x0", @"\x0")]
    [InlineData(@"\xzz", @"\xzz")]
    public void UnescapesHexBytesThenUtf8(string escaped, string expected) =>
        Assert.Equal(expected, KmsgRecord.Unescape(Encoding.ASCII.GetBytes(escaped)));

    [Fact]
    public void CallerAndUnknownHeaderFields()
    {
        // /dev/kmsg records of a CONFIG_PRINTK_CALLER kernel with a further header field, as a printk patch on the
        // kernel mailing list shows them ("+ via /dev/kmsg"): readers must take caller= and skip what they do not know.
        var e = KmsgRecord.Parse(Encoding.ASCII.GetBytes("6,3,0,-,caller=T0,cycle=1036890;BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n"), null)!;
        Assert.Equal("T0", e.Caller);
        Assert.Equal(3UL, e.Sequence);
        Assert.Equal("BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable", e.Message);
    }

    [Fact]
    public void MalformedHeaderIsNotARecord() =>
        Assert.Null(KmsgRecord.Parse(Encoding.ASCII.GetBytes("no header here"), null));

    [Fact]
    public void SavedLogPrefixForms()
    {
        // Lines of the fixtures: tests/fixtures/memory/kasan-6.1-lkdtm.txt and kasan-6.13-idxd-lkp-caller.txt.
        var entries = DmesgTextParser.Parse(new[]
        {
            "[   35.862349] lkdtm: Performing direct entry READ_AFTER_FREE",
            "[   81.411051][ T1644] Allocated by task 3664:",
            "[   81.441469][ T2471] install debs round one",
        }).ToList();
        Assert.Equal(3, entries.Count);
        Assert.Equal(TimeSpan.FromTicks(358623490), entries[0].TimeSinceBoot);
        Assert.Null(entries[0].Caller);
        Assert.Equal("T1644", entries[1].Caller);
        Assert.Equal("Allocated by task 3664:", entries[1].Message);
        Assert.Equal("T2471", entries[2].Caller);
    }

    [Fact]
    public void UnprefixedLinesContinueAPrefixedRecord()
    {
        // dmesg prints the second line of a record indented to the prefix width (this host's amd_pstate message).
        var entries = DmesgTextParser.Parse(new[]
        {
            "[    0.421071] amd_pstate: The CPPC feature is supported but currently disabled by the BIOS.",
            "               Please enable it if your BIOS has the CPPC option.",
            "[    0.421074] amd_pstate: the _CPC object is not present in SBIOS or ACPI disabled",
        }).ToList();
        Assert.Equal(2, entries.Count);
        Assert.Equal("amd_pstate: The CPPC feature is supported but currently disabled by the BIOS.\nPlease enable it if your BIOS has the CPPC option.", entries[0].Message);
    }
}

public class KernelFrameParserTests
{
    [Theory]
    // Frames as printed in the fixtures of tests/fixtures/memory.
    [InlineData(" dump_stack_lvl+0x33/0x46", "dump_stack_lvl", 0x33UL, 0x46UL, null, false, true, null, null)]
    [InlineData(" ? lkdtm_READ_AFTER_FREE.cold+0x119/0x200", "lkdtm_READ_AFTER_FREE.cold", 0x119UL, 0x200UL, null, false, false, null, null)]
    [InlineData(" kmalloc_oob_right+0xa8/0xbc [test_kasan]", "kmalloc_oob_right", 0xa8UL, 0xbcUL, "test_kasan", false, true, null, null)]
    [InlineData(" __dump_stack lib/dump_stack.c:94 [inline]", "__dump_stack", null, null, null, true, true, "lib/dump_stack.c", 94)]
    [InlineData(" kasan_report+0x143/0x180 mm/kasan/report.c:601", "kasan_report", 0x143UL, 0x180UL, null, false, true, "mm/kasan/report.c", 601)]
    [InlineData("  [<ffffffff815f0001>] ? radix_tree_gang_lookup_slot+0x51/0x150", "radix_tree_gang_lookup_slot", 0x51UL, 0x150UL, null, false, false, null, null)]
    public void ParsesFrameForms(string line, string symbol, ulong? offset, ulong? size, string? module, bool inlined, bool reliable, string? file, int? lineNo)
    {
        Assert.True(KernelFrameParser.TryParse(line, out var f));
        Assert.Equal(symbol, f.Symbol);
        Assert.Equal(offset, f.Offset);
        Assert.Equal(size, f.Size);
        Assert.Equal(module, f.Module);
        Assert.Equal(inlined, f.Inlined);
        Assert.Equal(reliable, f.Reliable);
        Assert.Equal(file, f.File);
        Assert.Equal(lineNo, f.Line);
    }

    [Fact]
    public void BareAddressFrameAndPointerPrefix()
    {
        Assert.True(KernelFrameParser.TryParse("    [<00000000f5ab54a5>] 0xffffffffc0598058", out var f));
        Assert.Null(f.Symbol);
        Assert.Equal(0xffffffffc0598058UL, f.Address);
        Assert.True(KernelFrameParser.TryParse("[<ffffffff81418ef7>] kmem_cache_alloc_node_noprof+0x2f7/0x370", out var g));
        Assert.Equal(0xffffffff81418ef7UL, g.Address);
    }

    [Theory]
    [InlineData("Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 0.1 11/11/2019")]
    [InlineData("<TASK>")]
    [InlineData("RIP: 0033:0x7f72b2fd6350")]
    [InlineData("page dumped because: kasan: bad access detected")]
    [InlineData("kasan")]
    public void OtherLinesAreNotFrames(string line) => Assert.False(KernelFrameParser.TryParse(line, out _));

    [Theory]
    [InlineData("lkdtm_READ_AFTER_FREE.cold", "lkdtm_READ_AFTER_FREE")]
    [InlineData("input_attach_handler.isra.0", "input_attach_handler")]
    [InlineData("vfs_kern_mount.part.0", "vfs_kern_mount")]
    [InlineData("__vsock_create.constprop.0", "__vsock_create")]
    [InlineData("kfree", "kfree")]
    public void NormalizesCompilerClones(string symbol, string expected) => Assert.Equal(expected, KernelFrameParser.NormalizeSymbol(symbol));
}

public class DmesgTimeFormatTests
{
    // Lines as util-linux 2.38 dmesg prints this host's amd_pstate record in each time format.
    [Theory]
    [InlineData("2026-11-25T21:12:55,421071+00:00 amd_pstate: the _CPC object is not present in SBIOS or ACPI disabled")]
    [InlineData("[    0.421071 <    0.002229>] amd_pstate: the _CPC object is not present in SBIOS or ACPI disabled")]
    [InlineData("[  +0.000003] amd_pstate: the _CPC object is not present in SBIOS or ACPI disabled")]
    [InlineData("[Nov25 21:12] amd_pstate: the _CPC object is not present in SBIOS or ACPI disabled")]
    [InlineData("[Wed Nov 25 21:12:55 2026] amd_pstate: the _CPC object is not present in SBIOS or ACPI disabled")]
    public void StripsEveryTimePrefix(string line) =>
        Assert.Equal("amd_pstate: the _CPC object is not present in SBIOS or ACPI disabled", DmesgTextParser.Parse(new[] { line }).Single().Message);

    [Fact]
    public void IsoTimestampAndDelta()
    {
        var iso = DmesgTextParser.Parse(new[] { "2026-11-25T21:12:55,421071+00:00 x" }).Single();
        Assert.Equal(new DateTime(2026, 11, 25, 21, 12, 55, DateTimeKind.Utc).AddTicks(4210710), iso.Timestamp!.Value.ToUniversalTime());
        var delta = DmesgTextParser.Parse(new[] { "[    0.421071 <    0.002229>] x" }).Single();
        Assert.Equal(TimeSpan.FromTicks(4210710), delta.TimeSinceBoot);
    }

    [Fact]
    public void UnindentedTextIsNotAContinuation()
    {
        // A console also carries user-space text without a stamp (syzkaller report/306): its own entry, not part of the record.
        var e = DmesgTextParser.Parse(new[] { "[  218.536726] Call Trace:", "22:45:44 executing program 5:", "[  218.552992]  dump_stack+0x1c4/0x2b4" }).ToList();
        Assert.Equal(3, e.Count);
        Assert.Equal("Call Trace:", e[0].Message);
        Assert.Null(e[1].TimeSinceBoot);
    }
}

public class AllocatorFrameTests
{
    [Theory]
    // Frames of the tracks and backtraces in tests/fixtures/memory.
    [InlineData("kmalloc_trace", true)]
    [InlineData("kmem_cache_alloc_node_noprof", true)]
    [InlineData("__kmalloc_noprof", true)]
    [InlineData("slab_free_freelist_hook", true)]
    [InlineData("____kasan_slab_free", true)]
    [InlineData("kasan_save_stack", true)]
    [InlineData("__kmem_cache_free", true)]
    [InlineData("kfree", true)]
    [InlineData("__vmalloc_node_range", true)]
    [InlineData("__alloc_skb", false)]
    [InlineData("kfree_skb", false)]
    [InlineData("lkdtm_READ_AFTER_FREE.cold", false)]
    [InlineData("prepare_creds", false)]
    public void TellsAllocatorFromCaller(string symbol, bool allocator) => Assert.Equal(allocator, KernelFrameParser.IsAllocatorFrame(symbol));
}
