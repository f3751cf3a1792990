using KernelDebug.Ftrace;
using Xunit;

namespace KernelDebug.Tests.Ftrace;

/// <summary>The format parser and the ring-buffer decoder, on real kernel output recorded in tests/fixtures/ftrace.</summary>
public class TraceDecodeTests
{
    internal static string FixtureDir(string name)
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !Directory.Exists(Path.Combine(dir, "tests", "fixtures", "ftrace")))
            dir = Path.GetDirectoryName(dir);
        Assert.NotNull(dir);
        return Path.Combine(dir!, "tests", "fixtures", "ftrace", name);
    }

    internal static (TraceRecordDecoder Decoder, Dictionary<int, TraceEventFormat> Formats) FixtureDecoder(string dir)
    {
        var formats = new Dictionary<int, TraceEventFormat>();
        foreach (var f in Directory.GetFiles(Path.Combine(dir, "formats"), "*.format"))
        {
            var file = Path.GetFileNameWithoutExtension(f);
            var system = file.Split('_')[0];
            var format = TraceEventFormat.Parse(system, File.ReadAllText(f));
            formats[format.Id] = format;
        }
        var layout = RingBufferLayout.Parse(File.ReadAllText(Path.Combine(dir, "header_page")), File.ReadAllText(Path.Combine(dir, "header_event")), 4096);
        var decoder = new TraceRecordDecoder(layout, CommCache.FromText(File.ReadAllText(Path.Combine(dir, "saved_cmdlines"))),
            TraceClock.None, id => formats.TryGetValue(id, out var f) ? f : null);
        return (decoder, formats);
    }

    internal static List<TraceRecord> DecodeFixture(string dir, out long missed)
    {
        var (decoder, _) = FixtureDecoder(dir);
        var records = new List<TraceRecord>();
        missed = 0;
        foreach (var raw in Directory.GetFiles(dir, "cpu*.raw").OrderBy(f => f))
        {
            int cpu = int.Parse(Path.GetFileNameWithoutExtension(raw)[3..]);
            var bytes = File.ReadAllBytes(raw);
            for (int off = 0; off + 4096 <= bytes.Length; off += 4096)
                missed += Math.Max(0, decoder.DecodePage(bytes.AsSpan(off, 4096), cpu, records));
        }
        return records;
    }

    [Fact]
    public void SchedSwitchFormatParsesEveryFieldWithTypeOffsetSizeAndSign()
    {
        var f = TraceEventFormat.Parse("sched", File.ReadAllText(Path.Combine(FixtureDir("sched-syscalls"), "formats", "sched_sched_switch.format")));
        Assert.Equal("sched_switch", f.Name);
        Assert.True(f.Id > 0);
        Assert.Equal(4, f.AllFields.Count(x => x.IsCommon));
        Assert.Equal(new[] { "prev_comm", "prev_pid", "prev_prio", "prev_state", "next_comm", "next_pid", "next_prio" }, f.FieldNames);
        var comm = f.Fields[0];
        Assert.Equal(TraceFieldKind.Array, comm.Kind);
        Assert.Equal(16, comm.ArrayLength);
        Assert.True(comm.IsString);
        Assert.Equal(8, comm.Offset);
        var pid = f.Fields[1];
        Assert.Equal("pid_t", pid.Type);
        Assert.Equal(24, pid.Offset);
        Assert.Equal(4, pid.Size);
        Assert.True(pid.Signed);
        Assert.Equal(8, f.Fields[3].Size);
    }

    [Fact]
    public void DataLocRelLocFlexibleAndPointerFieldsParse()
    {
        var text = "name: x\nID: 9\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n" +
                   "\tfield:__data_loc char[] name;\toffset:8;\tsize:4;\tsigned:0;\n" +
                   "\tfield:__rel_loc u8[] blob;\toffset:12;\tsize:4;\tsigned:0;\n" +
                   "\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;\n" +
                   "\tfield:u8 saddr[4];\toffset:24;\tsize:4;\tsigned:0;\n" +
                   "\tfield:char buf[];\toffset:28;\tsize:0;\tsigned:0;\n\nprint fmt: \"%s\", __get_str(name)\n";
        var f = TraceEventFormat.Parse("test", text);
        Assert.Equal(TraceFieldKind.DataLocation, f.Fields[0].Kind);
        Assert.True(f.Fields[0].IsString);
        Assert.Equal(TraceFieldKind.RelativeLocation, f.Fields[1].Kind);
        Assert.False(f.Fields[1].IsString);
        Assert.Equal(TraceFieldKind.Scalar, f.Fields[2].Kind);
        Assert.Equal("const char *", f.Fields[2].Type);
        Assert.Equal(TraceFieldKind.Array, f.Fields[3].Kind);
        Assert.False(f.Fields[3].IsString);
        Assert.Equal(TraceFieldKind.FlexibleArray, f.Fields[4].Kind);
        Assert.True(f.Fields[4].IsString);

        // A record: common_type, name at 32 (len 4 "abc\0"), blob relative to the end of its field (16) + 20 = 36.
        var data = new byte[40];
        data[0] = 9;
        BitConverter.TryWriteBytes(data.AsSpan(8), (4 << 16) | 32);
        BitConverter.TryWriteBytes(data.AsSpan(12), (2 << 16) | 20);
        BitConverter.TryWriteBytes(data.AsSpan(16), 0xdeadbeefUL);
        data[24] = 10; data[25] = 0; data[26] = 0; data[27] = 1;
        "hi\0\0"u8.CopyTo(data.AsSpan(28));
        "abc\0"u8.CopyTo(data.AsSpan(32));
        data[36] = 0xAA; data[37] = 0xBB;
        Assert.Equal("abc", TraceRecordDecoder.ReadField(f.Fields[0], data));
        Assert.Equal(new byte[] { 0xAA, 0xBB }, TraceRecordDecoder.ReadField(f.Fields[1], data));
        Assert.Equal(0xdeadbeefUL, TraceRecordDecoder.ReadField(f.Fields[2], data));
        Assert.Equal(new byte[] { 10, 0, 0, 1 }, TraceRecordDecoder.ReadField(f.Fields[3], data));
        Assert.Equal("hi", TraceRecordDecoder.ReadField(f.Fields[4], data));
    }

    [Fact]
    public void HeaderPageAndHeaderEventGiveTheLayout()
    {
        var dir = FixtureDir("sched-syscalls");
        var l = RingBufferLayout.Parse(File.ReadAllText(Path.Combine(dir, "header_page")), File.ReadAllText(Path.Combine(dir, "header_event")), 4096);
        Assert.Equal(0, l.TimestampOffset);
        Assert.Equal(8, l.CommitOffset);
        Assert.Equal(8, l.CommitSize);
        Assert.Equal(16, l.DataOffset);
        Assert.Equal(5, l.TypeLenBits);
        Assert.Equal(27, l.TimeDeltaBits);
        Assert.Equal((29, 30, 31), (l.PaddingType, l.TimeExtendType, l.TimeStampType));
    }

    [Fact]
    public void PageWalkerAppliesDeltasExtendsAbsoluteStampsAndPadding()
    {
        var l = new RingBufferLayout();
        var page = new byte[4096];
        BitConverter.TryWriteBytes(page.AsSpan(0), 1000UL);
        int p = 16;
        void Hdr(uint typeLen, uint delta) { BitConverter.TryWriteBytes(page.AsSpan(p), typeLen | (delta << 5)); p += 4; }
        void U32(uint v) { BitConverter.TryWriteBytes(page.AsSpan(p), v); p += 4; }
        Hdr(2, 5); U32(0xAAAA); U32(0xBBBB);                  // 8 bytes of data at 1005
        Hdr(30, 3); U32(1);                                   // extend: + (1 << 27) + 3
        Hdr(1, 0); U32(7);                                    // data at 1005 + 134217731
        Hdr(29, 2); U32(12); p += 8;                          // padding: array[0] counts itself and the 8 discarded bytes
        Hdr(31, 500); U32(0);                                 // absolute 500
        Hdr(0, 1); U32(12 + 4); U32(1); U32(2); U32(3);       // long form, 12 bytes at 501
        BitConverter.TryWriteBytes(page.AsSpan(8), (ulong)(p - 16));
        var events = new List<RawEvent>();
        Assert.Equal(0, RingBufferPage.Walk(l, page, events));
        Assert.Equal(new ulong[] { 1005, 1005 + (1UL << 27) + 3, 501 }, events.Select(e => e.Timestamp));
        Assert.Equal(new[] { 8, 4, 12 }, events.Select(e => e.Length));

        // Missed events stored after the data.
        var commit = (ulong)(p - 16) | RingBufferLayout.MissedEvents | RingBufferLayout.MissedStored;
        BitConverter.TryWriteBytes(page.AsSpan(8), commit);
        BitConverter.TryWriteBytes(page.AsSpan(p), 42UL);
        Assert.Equal(42, RingBufferPage.Walk(l, page, new List<RawEvent>()));
    }

    [Fact]
    public void RecordedPagesDecodeToTheKernelsOwnTextRenderingRecordByRecord()
    {
        var dir = FixtureDir("sched-syscalls");
        var records = DecodeFixture(dir, out var missed);
        Assert.Equal(0, missed);
        var lines = TextTraceLine.Parse(File.ReadAllText(Path.Combine(dir, "trace.txt")));
        Assert.True(lines.Count > 1000);
        var mismatches = TextTraceLine.Compare(records, lines, out int fields);
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
        Assert.True(fields > lines.Count, $"only {fields} field values compared");
        Assert.Contains(records, r => r.Name == "print" && (string)r.Fields["buf"]! == "marker 2\n");
        Assert.Contains(records, r => r.Name == "sched_process_exec" && ((string)r.Fields["filename"]!).EndsWith("/ls"));
    }

    [Fact]
    public void LazilyDecodedFieldsEqualTheFormatsDecodingAndAreDecodedOnce()
    {
        var dir = FixtureDir("sched-syscalls");
        var records = DecodeFixture(dir, out _);
        var (_, formats) = FixtureDecoder(dir);
        var lazy = records.Where(r => formats[r.EventId].CommPidPairs.Length == 0 && formats[r.EventId].FieldNames.Length > 0).ToList();
        Assert.True(lazy.Count > 100, $"only {lazy.Count} records without comm/pid pairs");
        // Names come from the format without decoding: what the property adapter lists.
        Assert.All(lazy, r => Assert.Equal(formats[r.EventId].FieldNames, r.FieldNames));
        Assert.DoesNotContain(lazy, r => r.FieldsDecoded);
        // Many threads reading the same records at once all see one decoded set of values.
        var seen = new TraceFieldValues[lazy.Count];
        Parallel.For(0, 4, _ => { for (int i = 0; i < lazy.Count; i++) { var f = lazy[i].Fields; Assert.Same(f, lazy[i].Fields); seen[i] ??= f; } });
        for (int i = 0; i < lazy.Count; i++) Assert.Same(seen[i], lazy[i].Fields);
        Assert.All(lazy, r => Assert.True(r.FieldsDecoded));
        // Strings (char[] and __data_loc) and pointers decode on first use as they did eagerly.
        Assert.IsType<ulong>(lazy.First(r => r.FullName == "syscalls:sys_enter_openat").Fields["filename"]);
        Assert.EndsWith("\n", (string)lazy.First(r => r.FullName == "ftrace:print").Fields["buf"]!);
        Assert.StartsWith("/", (string)lazy.First(r => r.Name == "sched_process_exec").Fields["filename"]!);
        // Events naming other tasks stay eager: the comm cache learns from them in stream order.
        Assert.DoesNotContain(lazy, r => r.Name is "sched_switch" or "sched_wakeup" or "sched_process_fork");
    }

    [Fact]
    public void KernelFilterErrorsGiveMessageAndCaret()
    {
        var (m, p) = FilterError.ParseFilterFile("prev_pid == abc\n             ^\nparse_error: Invalid value (did you forget quotes)?\n", "prev_pid == abc");
        Assert.Equal("Invalid value (did you forget quotes)?", m);
        Assert.Equal(13, p);
        var log = "[ 1121.872647] event filter parse error: error: Field not found\n  Command: foo >\n               ^\n";
        (m, p) = FilterError.ParseErrorLog(log, "foo >");
        Assert.Equal("Field not found", m);
        Assert.Equal(4, p);
        (m, _) = FilterError.ParseErrorLog(log, "other");
        Assert.Null(m);
    }

    [Fact]
    public void FunctionGlobsThatWouldBecomeCommandsAreRefused()
    {
        Assert.Equal("vfs_*", FunctionFilter.ValidateGlob("vfs_*"));
        Assert.Equal("do_sys_open[at]*", FunctionFilter.ValidateGlob("do_sys_open[at]*"));
        foreach (var bad in new[] { "vfs_read:traceoff", "a b", "vfs_read\n", "!vfs_read", "x;y", "" })
            Assert.Throws<KernelDebug.Native.KernelDebugException>(() => FunctionFilter.ValidateGlob(bad));
    }
}

/// <summary>The text fallback (trace_pipe) against the binary decoder, on the same recorded run.</summary>
public class TraceTextFallbackTests
{
    [Fact]
    public void TextLinesParseBackToTheRecordsTheBinaryPagesHold()
    {
        var dir = TraceDecodeTests.FixtureDir("sched-syscalls");
        var (_, formats) = TraceDecodeTests.FixtureDecoder(dir);
        var parser = new TraceTextParser(formats.Values);
        var fromText = File.ReadAllText(Path.Combine(dir, "trace.txt")).Split('\n').Select(parser.Parse).Where(r => r is not null).Select(r => r!).ToList();
        var fromPages = TraceDecodeTests.DecodeFixture(dir, out _);
        Assert.Equal(fromPages.Count, fromText.Count);
        var a = fromPages.OrderBy(r => (r.Timestamp + 500) / 1000).ThenBy(r => r.Cpu).ToList();
        var b = fromText.OrderBy(r => r.Timestamp).ThenBy(r => r.Cpu).ToList();
        int compared = 0;
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal((a[i].FullName, a[i].ProcessId, a[i].Cpu, a[i].TimestampText), (b[i].FullName, b[i].ProcessId, b[i].Cpu, b[i].TimestampText));
            foreach (var name in new[] { "prev_pid", "next_pid", "prev_comm", "next_comm", "filename", "ret", "fd", "count", "buf", "pid", "child_pid" })
            {
                if (!a[i].Fields.TryGetValue(name, out var expected) || !b[i].Fields.TryGetValue(name, out var actual) || actual is null) continue;
                Assert.Equal(expected, actual);
                compared++;
            }
        }
        Assert.True(compared > a.Count, $"{compared} values compared");
    }
}

public class CommCacheTests
{
    [Fact]
    public void APinnedCommWinsOverAStaleSavedCmdlinesEntry()
    {
        // saved_cmdlines still names the pid's earlier owner; the command this session started is pinned.
        var comms = CommCache.FromText("4242 alloc\n17 bash\n");
        Assert.Equal("alloc", comms.Get(4242));
        comms.Pin(4242, CommCache.CommOfExecutable("/usr/bin/true"));
        Assert.Equal("true", comms.Get(4242));
        Assert.Equal("bash", comms.Get(17));
    }

    [Theory]
    [InlineData("/bin/true", "true")]
    [InlineData("/opt/tools/a-program-with-a-long-name", "a-program-with-")]
    [InlineData("relative/dd", "dd")]
    public void TheCommOfAnExecutableIsItsFileNameCutToFifteenBytes(string path, string comm) =>
        Assert.Equal(comm, CommCache.CommOfExecutable(path));
}
