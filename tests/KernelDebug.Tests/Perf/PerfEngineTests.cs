using KernelDebug.Symbols;
using KernelDebug.Native;
using KernelDebug.Perf;
using Xunit;

namespace KernelDebug.Tests.Perf;

public class PerfEngineTests
{
    [Theory]
    [InlineData("_ZdlPv", "operator delete")]
    [InlineData("_ZN6icu_727UMemorynwEm", "icu_72::UMemory::operator new")]
    [InlineData("_ZN6icu_7213UnicodeStringD0Ev", "icu_72::UnicodeString::~UnicodeString")]
    [InlineData("main", "main")]
    [InlineData("_Znotmangled", "_Znotmangled")]
    public void DemanglesWithoutParametersAsPerfShows(string mangled, string expected) =>
        Assert.Equal(expected, Demangler.Demangle(mangled));

    [Theory]
    [InlineData("ns::f<int (*)(int)>(int) const", "ns::f<int (*)(int)>")]
    [InlineData("Foo::operator()(int)", "Foo::operator()")]
    [InlineData("g(char) [clone .cold]", "g [clone .cold]")]
    [InlineData("plain", "plain")]
    public void StripsOnlyTheOuterParameterList(string demangled, string expected) =>
        Assert.Equal(expected, Demangler.StripParameters(demangled));

    [Fact]
    public void SymbolTableFollowsPerfsRules()
    {
        var t = new SymbolTable(new List<(ulong, ulong, string, int)>
        {
            (0x1000, 0, "zero_alias", 2),      // zero size, and the end fix-up keeps it so (next start is the same): loses
            (0x1000, 0x10, "sized", 2),
            (0x2000, 0x20, "weak_one", 0),
            (0x2000, 0x20, "__local_one", 1),  // local beats weak, whatever the underscores
            (0x3000, 0, "label", 2),           // zero size: extends to the next symbol
            (0x3100, 0x8, "next", 2),
        }, kallsyms: false);
        Assert.Equal("sized", t.Find(0x1008, out var start));
        Assert.Equal(0x1000UL, start);
        Assert.Null(t.Find(0x1010, out _));
        Assert.Equal("__local_one", t.Find(0x2000, out _));
        Assert.Equal("label", t.Find(0x30ff, out _));
        Assert.Equal("next", t.Find(0x3100, out _));
        Assert.Null(t.Find(0x3108, out _));
        Assert.Null(t.Find(0x10, out _));
    }

    [Fact]
    public void KallsymsDuplicatesPreferTheSizedOneAfterEndFixup()
    {
        // memcpy and __pi_memcpy share an address; after the end fix-up only the later one has a size, as in perf.
        var t = new SymbolTable(new List<(ulong, ulong, string, int)>
        {
            (0xffffffff821f3a60, 0, "memcpy", 2), (0xffffffff821f3a60, 0, "__pi_memcpy", 2), (0xffffffff821f3b00, 0, "after", 2),
        }, kallsyms: true);
        Assert.Equal("__pi_memcpy", t.Find(0xffffffff821f3a62, out _));
    }

    [Fact]
    public void KallsymsAreReadAsPerfKeepsThem()
    {
        var path = Path.Combine(Path.GetTempPath(), $"kerneldebug-xunit-kallsyms-{Environment.ProcessId}");
        try
        {
            File.WriteAllText(path, string.Join("\n",
                "0000000000000000 A fixed_percpu_data",            // zero address: dropped
                "ffffffff81000000 T _text",
                "ffffffff81000000 T startup_64",                   // same address: the later one keeps a size after the end fix-up and wins
                "ffffffff81000100 t local_fn",
                "ffffffff81000200 r rodata_thing",                 // read-only data: not kept
                "ffffffff81000300 W weak_fn",
                "ffffffff81000400 D some_data",
                "ffffffffc0000000 t mod_fn\t[e1000]",
                "ffffffffc0000100 T mod_other\t[e1000]",
                "short line") + "\n");
            var k = Kallsyms.Load(path);
            var startup = k.Find(0xffffffff81000010)!.Value;
            Assert.Equal("startup_64", startup.Name);
            Assert.Equal(0xffffffff81000000UL, startup.Address);
            Assert.Equal("local_fn", k.Find(0xffffffff81000250)?.Name); // rodata_thing is not a symbol: local_fn extends over it
            Assert.Equal("weak_fn", k.Find(0xffffffff81000300)?.Name);
            var module = k.Find(0xffffffffc0000008)!.Value;
            Assert.Equal(("mod_fn", "e1000"), (module.Name, module.Module));
            Assert.Equal(0xffffffff81000000UL, k.AddressOf("_text"));
            Assert.Equal(0xffffffffc0000100UL, k.AddressOf("mod_other"));
            Assert.Null(k.AddressOf("rodata_thing"));
            Assert.Null(k.AddressOf("fixed_percpu_data"));
            Assert.False(Kallsyms.Load(path + ".missing").Available);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void PmuFormatBitsAreScattered()
    {
        var config = new ulong[4];
        PerfEventCatalog.ApplyFormat("cpu/event=0x1ff/", "event", "config:0-7,32-35", 0x1ff, config);
        Assert.Equal(0xffUL | (1UL << 32), config[0]);
        var ex = Assert.Throws<KernelDebugException>(() => PerfEventCatalog.ApplyFormat("x", "umask", "config:8-15", 0x1ff, new ulong[4]));
        Assert.Equal("InvalidPerfEvent", ex.ErrorId);
    }

    [Fact]
    public void CacheEventsEncodeCacheOpAndResult()
    {
        var e = PerfEventCatalog.Parse("dTLB-store-misses");
        Assert.Equal((uint)PerfTypeId.HwCache, e.TypeId);
        Assert.Equal(3UL | (1UL << 8) | (1UL << 16), e.Config);
        var u = PerfEventCatalog.Parse("cycles:u");
        Assert.True(u.ExcludeKernel && u.ExcludeHv && !u.ExcludeUser);
        Assert.Equal("InvalidPerfEvent", Assert.Throws<KernelDebugException>(() => PerfEventCatalog.Parse("L1-icache-stores")).ErrorId);
    }

    [Fact]
    public void WrittenPerfDataReadsBack()
    {
        var path = Path.Combine(Path.GetTempPath(), $"kerneldebug-xunit-{Environment.ProcessId}.data");
        try
        {
            var attr = PerfEventCatalog.Parse("cpu-clock").ToAttr(PerfAttrFlags.SampleIdAll);
            attr.SampleType = PerfFormat.SampleIdentifier | PerfFormat.SampleIp | PerfFormat.SampleTid | PerfFormat.SampleTime | PerfFormat.SamplePeriod;
            using (var w = new PerfDataWriter(path, new[] { (attr, "cpu-clock", new ulong[] { 42 }) }))
            {
                var sample = new byte[8 + 40];
                BitConverter.GetBytes(PerfFormat.RecordSample).CopyTo(sample, 0);
                BitConverter.GetBytes((ushort)2).CopyTo(sample, 4);
                BitConverter.GetBytes((ushort)sample.Length).CopyTo(sample, 6);
                BitConverter.GetBytes(42UL).CopyTo(sample, 8);
                BitConverter.GetBytes(0x1234UL).CopyTo(sample, 16);
                BitConverter.GetBytes(77).CopyTo(sample, 24);
                BitConverter.GetBytes(78).CopyTo(sample, 28);
                BitConverter.GetBytes(1_000_000_000UL).CopyTo(sample, 32);
                BitConverter.GetBytes(5UL).CopyTo(sample, 40);
                w.WriteRecords(sample);
                w.NoteSampleTime(1_000_000_000);
                w.WriteFinishedRound();
                w.Finish(new[] { "test" });
            }
            using var file = PerfDataFile.Open(path);
            Assert.Equal("cpu-clock", file.Attrs[0].Name);
            Assert.Equal(new ulong[] { 42 }, file.Attrs[0].Ids);
            var s = Assert.Single(new PerfDataDecoder(file, Kallsyms.Load("/nonexistent")).Samples());
            Assert.Equal((77, 78, 0x1234UL, 5UL, 1_000_000_000UL, "cpu-clock"), (s.ProcessId, s.ThreadId, s.Ip, s.Period, s.Timestamp, s.Event));
            Assert.Equal(":78", s.Comm);
            Assert.Equal("[unknown]", s.Dso);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void CheckpointedTemporaryFileReadsUpToTheCheckpoint()
    {
        // What a SIGKILLed recording leaves: the temporary file, never finished, readable up to the last checkpoint.
        var path = Path.Combine(Path.GetTempPath(), $"kerneldebug-xunit-ckpt-{Environment.ProcessId}.data");
        var tmp = path + PerfDataWriter.TemporarySuffix;
        try
        {
            var attr = PerfEventCatalog.Parse("cpu-clock").ToAttr(PerfAttrFlags.SampleIdAll);
            attr.SampleType = PerfFormat.SampleIdentifier | PerfFormat.SampleIp | PerfFormat.SampleTid | PerfFormat.SampleTime | PerfFormat.SamplePeriod;
            var w = new PerfDataWriter(path, new[] { (attr, "cpu-clock", new ulong[] { 42 }) });
            byte[] Sample(ulong ip)
            {
                var sample = new byte[8 + 40];
                BitConverter.GetBytes(PerfFormat.RecordSample).CopyTo(sample, 0);
                BitConverter.GetBytes((ushort)2).CopyTo(sample, 4);
                BitConverter.GetBytes((ushort)sample.Length).CopyTo(sample, 6);
                BitConverter.GetBytes(42UL).CopyTo(sample, 8);
                BitConverter.GetBytes(ip).CopyTo(sample, 16);
                BitConverter.GetBytes(77).CopyTo(sample, 24);
                BitConverter.GetBytes(78).CopyTo(sample, 28);
                BitConverter.GetBytes(1_000_000_000UL).CopyTo(sample, 32);
                BitConverter.GetBytes(5UL).CopyTo(sample, 40);
                return sample;
            }
            // Right after the start the file has a valid header and no data: a clean "empty" error, never garbage.
            Assert.Contains("data section is empty", Assert.Throws<KernelDebugException>(() => PerfDataFile.Open(tmp)).Message);
            w.WriteRecords(Sample(0x1111));
            w.WriteRecords(Sample(0x2222));
            w.Checkpoint();
            w.WriteRecords(Sample(0x3333)); // after the checkpoint: not covered (perhaps still in the buffer when killed)
            using (var file = PerfDataFile.Open(tmp))
            {
                var ips = new PerfDataDecoder(file, Kallsyms.Load("/nonexistent")).Samples().Select(s => s.Ip).ToArray();
                Assert.Equal(new ulong[] { 0x1111, 0x2222 }, ips);
            }
            Assert.False(File.Exists(path));
            w.Dispose();
        }
        finally { File.Delete(tmp); File.Delete(path); }
    }
}
