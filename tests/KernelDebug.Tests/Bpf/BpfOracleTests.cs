using System.Management.Automation;
using System.Text.Json;
using KernelDebug.Bpf;
using KernelDebug.Host;
using KernelDebug.Native;
using Xunit;

namespace KernelDebug.Tests.Bpf;

/// <summary>The test's own eBPF objects, loaded once for the class and closed after it.</summary>
public sealed class BpfWorld : IDisposable
{
    internal BpfTestObjects Objects { get; } = new();
    public bool Available { get; }
    public string? Why { get; }
    public uint FilterId, CounterId, RawTpId, CountMapId, BtfHashId, PerCpuId, BtfId, TracepointLinkId, RawTpLinkId, CgroupLinkId, CgroupProgId, NestedId, PerCpuBtfId, UprobeLinkId, UprobeProgId;
    public ulong CgroupId, UprobeOffset;
    public string UprobePath = "";
    public const int GetppidCalls = 7;

    public BpfWorld()
    {
        if (ProgramLocator.Find("bpftool") is null) { Why = "bpftool is not installed"; return; }
        try
        {
            var o = Objects;
            var filter = o.LoadProgram(1 /* socket_filter */, "kd_filter", BpfTestObjects.ReturnZero);
            var countMap = o.CreateMap(2 /* array */, "kd_count", 4, 8, 1);
            var counter = o.LoadProgram(5 /* tracepoint */, "kd_counter", BpfTestObjects.CountInto(countMap.Fd));
            var rawtp = o.LoadProgram(17 /* raw_tracepoint */, "kd_rawtp", BpfTestObjects.Concat(BpfTestObjects.Insn(0x85, imm: 5), BpfTestObjects.ReturnZero));
            var btf = o.LoadBtf(BpfTestObjects.EncodeTestBtf());
            var btfHash = o.CreateMap(1 /* hash */, "kd_btf_hash", 4, 24, 16, btf, 1, 6);
            BpfTestObjects.Update(btfHash, BpfTestObjects.U32Bytes(1), BpfTestObjects.KdValue(42, "alpha", 7));
            BpfTestObjects.Update(btfHash, BpfTestObjects.U32Bytes(9), BpfTestObjects.KdValue(-5, "beta", 0x80000000));
            // Struct keys, a nested struct with an array and an enum behind a typedef, and per-CPU values with BTF.
            var nested = o.CreateMap(1 /* hash */, "kd_nested", 12, 40, 8, btf, 9, 12);
            BpfTestObjects.Update(nested, BpfTestObjects.KdKey(100, "init"), BpfTestObjects.KdNested(1, "one", 3, new uint[] { 1, 2, 3 }, 2));
            BpfTestObjects.Update(nested, BpfTestObjects.KdKey(4242, "bash"), BpfTestObjects.KdNested(-7, "two", 0, new uint[] { 0, 9, 0xffffffff }, 0));
            BpfTestObjects.Update(nested, BpfTestObjects.KdKey(7, "x"), BpfTestObjects.KdNested(0, "", 1, new uint[] { 5, 5, 5 }, 1 /* no enumerator */));
            var perCpuBtf = o.CreateMap(5 /* percpu_hash */, "kd_pcpu_btf", 12, 8, 4, btf, 9, 2);
            int ncpu = BpfMapReader.PossibleCpus();
            var longs = new byte[8 * ncpu];
            for (int c = 0; c < ncpu; c++) BitConverter.GetBytes(-1000L * (c + 1)).CopyTo(longs, 8 * c);
            BpfTestObjects.Update(perCpuBtf, BpfTestObjects.KdKey(1, "cpu"), longs);
            var perCpu = o.CreateMap(6 /* percpu_array */, "kd_percpu", 4, 8, 2);
            int cpus = BpfMapReader.PossibleCpus();
            var values = new byte[8 * cpus];
            for (int c = 0; c < cpus; c++) BitConverter.GetBytes((ulong)(100 + c)).CopyTo(values, 8 * c);
            BpfTestObjects.Update(perCpu, BpfTestObjects.U32Bytes(1), values);
            o.EnableRunStats();
            var tpLink = o.AttachToTracepoint(counter, "syscalls", "sys_enter_getppid");
            var rawLink = o.AttachRawTracepoint(rawtp, "sys_enter");
            var (cgLink, cgId, cgProg) = o.AttachToPrivateCgroup();
            // A uprobe on libc's getpgid, for this process only (a function entry, so no other process is disturbed).
            UprobePath = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(f => f.Length >= 6)
                .Select(f => f[5]).First(f => System.Text.RegularExpressions.Regex.IsMatch(Path.GetFileName(f), @"^libc(\.so\.6|-[\d.]+\.so)$"));
            UprobeOffset = KernelDebug.Symbols.ElfFile.Open(UprobePath).ResolveFileOffset("getpgid");
            var uprobeProg = o.LoadProgram(2 /* kprobe */, "kd_uprobe", BpfTestObjects.ReturnZero);
            var uprobeLink = o.AttachUprobe(uprobeProg, UprobePath, UprobeOffset);
            for (int i = 0; i < GetppidCalls; i++) Interop.syscall(SyscallNumbers.Pick(110, 173), 0, 0, 0, 0, 0, 0);

            FilterId = BpfTestObjects.IdOf<BpfProgInfo>(filter);
            CounterId = BpfTestObjects.IdOf<BpfProgInfo>(counter);
            RawTpId = BpfTestObjects.IdOf<BpfProgInfo>(rawtp);
            CountMapId = BpfTestObjects.IdOf<BpfMapInfo>(countMap);
            BtfHashId = BpfTestObjects.IdOf<BpfMapInfo>(btfHash);
            PerCpuId = BpfTestObjects.IdOf<BpfMapInfo>(perCpu);
            NestedId = BpfTestObjects.IdOf<BpfMapInfo>(nested);
            PerCpuBtfId = BpfTestObjects.IdOf<BpfMapInfo>(perCpuBtf);
            BtfId = BpfTestObjects.IdOf<BpfBtfInfo>(btf);
            TracepointLinkId = BpfTestObjects.IdOf<BpfLinkInfo>(tpLink);
            RawTpLinkId = BpfTestObjects.IdOf<BpfLinkInfo>(rawLink);
            CgroupLinkId = BpfTestObjects.IdOf<BpfLinkInfo>(cgLink);
            CgroupProgId = BpfTestObjects.IdOf<BpfProgInfo>(cgProg);
            CgroupId = cgId;
            UprobeLinkId = BpfTestObjects.IdOf<BpfLinkInfo>(uprobeLink);
            UprobeProgId = BpfTestObjects.IdOf<BpfProgInfo>(uprobeProg);
            Available = true;
        }
        catch (Exception e) when (e is KernelDebugException or InvalidOperationException)
        {
            Why = e.Message;
            Objects.Dispose();
        }
    }

    public void Dispose() => Objects.Dispose();

    public static JsonElement Bpftool(params string[] args)
    {
        var r = ProgramLocator.Run(ProgramLocator.Find("bpftool")!, new[] { "-j" }.Concat(args), TimeSpan.FromSeconds(30))
            ?? throw new TimeoutException("bpftool timed out");
        Assert.True(r.ExitCode == 0, $"bpftool {string.Join(' ', args)}: {r.StdErr}");
        return JsonDocument.Parse(r.StdOut).RootElement.Clone();
    }
}

public class BpfOracleTests : IClassFixture<BpfWorld>, IClassFixture<ModuleFixture>
{
    private readonly BpfWorld _w;
    private readonly ModuleFixture _m;

    public BpfOracleTests(BpfWorld world, ModuleFixture module)
    {
        _w = world;
        _m = module;
        Assert.True(_w.Available, $"the test could not load its BPF objects: {_w.Why}");
    }

    private List<T> Run<T>(string script)
    {
        var (output, errors) = _m.Invoke(script);
        Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => e.ToString())));
        return output.Select(o => Assert.IsAssignableFrom<T>(o.BaseObject)).ToList();
    }

    private static uint[] Ids(JsonElement array) => array.EnumerateArray().Select(e => e.GetProperty("id").GetUInt32()).OrderBy(i => i).ToArray();

    /// <summary>
    /// The same objects as bpftool's list, with the same type (where bpftool knows the type's name), name and, for links,
    /// program. Other processes on the host may load or unload objects meanwhile: compare a few times.
    /// </summary>
    private void SameObjects(string noun, string cmdlet)
    {
        for (int attempt = 0; ; attempt++)
        {
            var theirs = BpfWorld.Bpftool(noun, "show").EnumerateArray().Select(Describe).OrderBy(d => d.Id).ToArray();
            var ours = Run<object>(cmdlet).Select(o => Describe(o, theirs)).OrderBy(d => d.Id).ToArray();
            if (theirs.SequenceEqual(ours) || attempt == 4)
            {
                Assert.Equal(theirs.Select(d => d.Id), ours.Select(d => d.Id));
                Assert.Equal(theirs, ours);
                Assert.NotEmpty(ours);
                return;
            }
            Thread.Sleep(200);
        }
    }

    private static (uint Id, string? Type, string Name, uint ProgramId) Describe(JsonElement e) => (
        e.GetProperty("id").GetUInt32(),
        e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null,
        e.TryGetProperty("name", out var n) ? n.GetString()! : "",
        e.TryGetProperty("prog_id", out var p) ? p.GetUInt32() : 0);

    private static (uint Id, string? Type, string Name, uint ProgramId) Describe(object o, (uint Id, string? Type, string Name, uint ProgramId)[] theirs)
    {
        uint id = (uint)o.GetType().GetProperty("Id")!.GetValue(o)!;
        // bpftool 7.1 prints a number for a type newer than itself (and nothing for BTF objects): compare the name only where it has one.
        bool typed = theirs.Any(t => t.Id == id && t.Type is not null);
        return (id, typed ? (string?)o.GetType().GetProperty("Type")?.GetValue(o) : null,
            (string?)o.GetType().GetProperty("Name")?.GetValue(o) ?? "", (uint?)o.GetType().GetProperty("ProgramId")?.GetValue(o) ?? 0);
    }

    [Fact]
    public void ProgramsAreBpftools() => SameObjects("prog", "Get-BpfProgram");

    [Fact]
    public void MapsAreBpftools() => SameObjects("map", "Get-BpfMap");

    [Fact]
    public void LinksAreBpftools() => SameObjects("link", "Get-BpfLink");

    [Fact]
    public void BtfObjectIdsAndNamesAreBpftools() => SameObjects("btf", "Get-BpfBtf");

    [Theory]
    [InlineData("filter"), InlineData("counter"), InlineData("rawtp")]
    public void ProgramFieldsAreBpftools(string which)
    {
        uint id = which switch { "filter" => _w.FilterId, "counter" => _w.CounterId, _ => _w.RawTpId };
        var t = BpfWorld.Bpftool("prog", "show", "id", id.ToString());
        var p = Run<BpfProgram>($"Get-BpfProgram -Id {id}").Single();
        Assert.Equal(t.GetProperty("id").GetUInt32(), p.Id);
        Assert.Equal(t.GetProperty("type").GetString(), p.Type);
        Assert.Equal(t.GetProperty("name").GetString(), p.Name);
        Assert.Equal(t.GetProperty("tag").GetString(), p.Tag);
        Assert.Equal(t.GetProperty("gpl_compatible").GetBoolean(), p.GplCompatible);
        Assert.Equal(t.GetProperty("uid").GetUInt32(), p.Uid);
        Assert.Equal(t.GetProperty("bytes_xlated").GetUInt32(), p.XlatedSize);
        if (t.TryGetProperty("bytes_jited", out var jited)) Assert.Equal(jited.GetUInt32(), p.JitedSize);
        var theirMaps = t.TryGetProperty("map_ids", out var m) ? m.EnumerateArray().Select(e => e.GetUInt32()).ToArray() : Array.Empty<uint>();
        Assert.Equal(theirMaps, p.MapIds);
        Assert.Equal(t.TryGetProperty("btf_id", out var b) ? b.GetUInt32() : 0u, p.BtfId);
        var loaded = DateTimeOffset.FromUnixTimeSeconds(t.GetProperty("loaded_at").GetInt64());
        Assert.InRange((new DateTimeOffset(p.LoadTime) - loaded).TotalSeconds, -1.5, 1.5);
        Assert.Contains(Environment.ProcessId, p.ProcessIds);
        if (t.TryGetProperty("pids", out var pids))
            Assert.Equal(pids.EnumerateArray().Select(e => e.GetProperty("pid").GetInt32()).OrderBy(x => x), p.ProcessIds);
        if (which == "counter") Assert.Equal(new[] { _w.CountMapId }, p.MapIds);
        Assert.Equal(which switch { "filter" => "socket_filter", "counter" => "tracepoint", _ => "raw_tracepoint" }, p.Type);
    }

    [Fact]
    public void InstructionsAreBpftoolsXlatedDump()
    {
        foreach (var id in new[] { _w.FilterId, _w.CounterId, _w.RawTpId })
        {
            var theirs = BpfWorld.Bpftool("prog", "dump", "xlated", "id", id.ToString()).EnumerateArray().Select(e => e.GetProperty("disasm").GetString()).ToArray();
            var p = Run<BpfProgram>($"Get-BpfProgram -Id {id} -Instructions").Single();
            Assert.NotNull(p.Instructions);
            Assert.Equal(theirs, p.Instructions!.Select(i => i.Text).ToArray());
        }
        // The counter's map reference, named as bpftool names it (the verifier inlines the array lookup, so no call remains).
        var counter = Run<BpfProgram>($"Get-BpfProgram -Id {_w.CounterId} -Instructions").Single();
        Assert.Contains(counter.Instructions!, i => i.Text == $"(18) r1 = map[id:{_w.CountMapId}]");
        Assert.Contains(counter.Instructions!, i => i.Text == "(db) lock *(u64 *)(r0 +0) += r1");
        // A helper call: the kernel stores the helper's offset from __bpf_call_base; the name comes from kallsyms.
        var rawtp = Run<BpfProgram>($"Get-BpfProgram -Id {_w.RawTpId} -Instructions").Single();
        Assert.Matches(@"^\(85\) call bpf_ktime_get_ns#-?\d+$", rawtp.Instructions![0].Text);
    }

    private static readonly bool OldBpftool = ProgramLocator.Run(ProgramLocator.Find("bpftool")!, new[] { "version" }, TimeSpan.FromSeconds(10))?.StdOut is { } v
        && System.Text.RegularExpressions.Regex.IsMatch(v, @"v7\.[0-3]\.");

    /// <summary>bpftool before 7.4 (this host's is 7.1) predates kernel 6.9's per-CPU address move and prints it as a plain move.</summary>
    private static string AsOldBpftool(string text) => OldBpftool ? System.Text.RegularExpressions.Regex.Replace(text, @"= &\(void __percpu \*\)\((r\d+)\)$", "= $1") : text;

    [Fact]
    public void InstructionsOfEveryProgramOnTheHostAreBpftools()
    {
        foreach (var p in Run<BpfProgram>("Get-BpfProgram -Instructions"))
        {
            JsonElement dump;
            try { dump = BpfWorld.Bpftool("prog", "dump", "xlated", "id", p.Id.ToString()); }
            catch (Xunit.Sdk.XunitException) { continue; } // unloaded meanwhile
            Assert.Equal(dump.EnumerateArray().Select(e => e.GetProperty("disasm").GetString()).ToArray(), p.Instructions!.Select(i => AsOldBpftool(i.Text)).ToArray());
        }
    }

    [Fact]
    public void MapFieldsAreBpftools()
    {
        foreach (var id in new[] { _w.CountMapId, _w.BtfHashId, _w.PerCpuId })
        {
            var t = BpfWorld.Bpftool("map", "show", "id", id.ToString());
            var m = Run<BpfMap>($"Get-BpfMap -Id {id}").Single();
            Assert.Equal(t.GetProperty("type").GetString(), m.Type);
            Assert.Equal(t.GetProperty("name").GetString(), m.Name);
            Assert.Equal(t.GetProperty("bytes_key").GetUInt32(), m.KeySize);
            Assert.Equal(t.GetProperty("bytes_value").GetUInt32(), m.ValueSize);
            Assert.Equal(t.GetProperty("max_entries").GetUInt32(), m.MaxEntries);
            Assert.Equal(t.GetProperty("flags").GetUInt32(), m.Flags);
            Assert.Equal(t.TryGetProperty("btf_id", out var b) ? b.GetUInt32() : 0u, m.BtfId);
            Assert.Contains(Environment.ProcessId, m.ProcessIds);
        }
        Assert.Equal(_w.BtfId, Run<BpfMap>($"Get-BpfMap -Id {_w.BtfHashId}").Single().BtfId);
        Assert.Equal(new[] { "array", "hash", "hash", "percpu_array", "percpu_hash" }, Run<BpfMap>("Get-BpfMap -Name kd_*").Where(m => m.ProcessIds.Contains(Environment.ProcessId)).Select(m => m.Type).OrderBy(x => x));
    }

    [Fact]
    public void LinksSayWhatTheyAttachTo()
    {
        var theirs = BpfWorld.Bpftool("link", "show").EnumerateArray().ToDictionary(e => e.GetProperty("id").GetUInt32());
        var tp = Run<BpfLink>($"Get-BpfLink -Id {_w.TracepointLinkId}").Single();
        Assert.Equal(theirs[tp.Id].GetProperty("type").GetString(), tp.Type);
        Assert.Equal(theirs[tp.Id].GetProperty("prog_id").GetUInt32(), tp.ProgramId);
        Assert.Equal("perf_event", tp.Type);
        Assert.Equal(_w.CounterId, tp.ProgramId);
        Assert.Equal("tracepoint", tp.PerfEventType);
        Assert.Equal("sys_enter_getppid", tp.Target);

        var raw = Run<BpfLink>($"Get-BpfLink -Id {_w.RawTpLinkId}").Single();
        Assert.Equal("raw_tracepoint", raw.Type);
        Assert.Equal(theirs[raw.Id].GetProperty("type").GetString(), raw.Type);
        Assert.Equal(theirs[raw.Id].GetProperty("tp_name").GetString(), raw.Target);
        Assert.Equal(_w.RawTpId, raw.ProgramId);
        Assert.Contains(Environment.ProcessId, raw.ProcessIds);
        Assert.Contains(Run<BpfLink>("Get-BpfLink -Type raw*"), l => l.Id == raw.Id);

        var cg = Run<BpfLink>($"Get-BpfLink -Id {_w.CgroupLinkId}").Single();
        var t = theirs[cg.Id];
        Assert.Equal("cgroup", cg.Type);
        Assert.Equal(t.GetProperty("type").GetString(), cg.Type);
        Assert.Equal(_w.CgroupProgId, cg.ProgramId);
        Assert.Equal(t.GetProperty("attach_type").GetString(), cg.AttachType);
        Assert.Equal("cgroup_inet_ingress", cg.AttachType);
        Assert.Equal(t.GetProperty("cgroup_id").GetUInt64(), (ulong)cg.Details["CgroupId"]);
        Assert.Equal(_w.CgroupId, (ulong)cg.Details["CgroupId"]);
        Assert.Equal($"cgroup {_w.CgroupId}", cg.Target);

        // A uprobe's perf_event link names the file and offset (kernel 6.6+), which the test chose from libc's symbols.
        var up = Run<BpfLink>($"Get-BpfLink -Id {_w.UprobeLinkId}").Single();
        Assert.Equal(theirs[up.Id].GetProperty("type").GetString(), up.Type);
        Assert.Equal("perf_event", up.Type);
        Assert.Equal(_w.UprobeProgId, up.ProgramId);
        Assert.Equal("uprobe", up.PerfEventType);
        Assert.Equal($"{_w.UprobePath}+0x{_w.UprobeOffset:x}", up.Target);
        Assert.Equal(_w.UprobeOffset, Convert.ToUInt64(up.Details["Offset"]));
        Assert.Contains(Run<BpfLink>("Get-BpfLink -Type perf*"), l => l.Id == up.Id);
        Assert.Equal("kprobe", Run<BpfProgram>($"Get-BpfLink -Id {_w.UprobeLinkId} | Get-BpfProgram").Single().Type);
    }

    [Fact]
    public void BtfObjectsAreBpftools()
    {
        var theirs = BpfWorld.Bpftool("btf", "show").EnumerateArray().ToDictionary(e => e.GetProperty("id").GetUInt32());
        foreach (var b in Run<BpfBtf>("Get-BpfBtf"))
        {
            if (!theirs.TryGetValue(b.Id, out var t)) continue;
            Assert.Equal(t.GetProperty("size").GetUInt32(), b.Size);
            Assert.Equal(t.TryGetProperty("name", out var n) ? n.GetString() : "", b.Name);
            Assert.Equal(t.GetProperty("kernel").GetBoolean(), b.Kernel);
            Assert.Equal(t.TryGetProperty("map_ids", out var mi) ? mi.EnumerateArray().Select(e => e.GetUInt32()).Order() : Enumerable.Empty<uint>(), b.MapIds.Order());
        }
        var ours = Run<BpfBtf>($"Get-BpfBtf -Id {_w.BtfId}").Single();
        Assert.Equal(new[] { _w.BtfHashId, _w.NestedId, _w.PerCpuBtfId }.Order(), ours.MapIds.Order());
        Assert.Contains(Run<BpfBtf>("Get-BpfBtf -Name vmlinux"), b => b.Kernel);
    }

    [Fact]
    public void MapEntriesDecodeThroughBtfAsBpftoolFormatsThem()
    {
        var dump = BpfWorld.Bpftool("map", "dump", "id", _w.BtfHashId.ToString()).EnumerateArray()
            .Select(e => e.GetProperty("formatted")).ToDictionary(f => f.GetProperty("key").GetUInt32(), f => f.GetProperty("value"));
        var entries = Run<BpfMapEntry>($"Read-BpfMap -Id {_w.BtfHashId}");
        Assert.Equal(dump.Keys.Order(), entries.Select(e => Assert.IsType<uint>(e.Key)).Order());
        foreach (var e in entries)
        {
            var v = Assert.IsType<PSObject>(e.Value);
            var t = dump[(uint)e.Key!];
            Assert.Equal(t.GetProperty("count").GetInt64(), Assert.IsType<long>(v.Properties["count"].Value));
            Assert.Equal(t.GetProperty("name").GetString(), Assert.IsType<string>(v.Properties["name"].Value));
            Assert.Equal(t.GetProperty("flags").GetUInt32(), Assert.IsType<uint>(v.Properties["flags"].Value));
        }
        var beta = entries.Single(e => (uint)e.Key! == 9);
        Assert.Equal(-5L, ((PSObject)beta.Value!).Properties["count"].Value);
        Assert.Equal(0x80000000u, ((PSObject)beta.Value!).Properties["flags"].Value);
        // -Raw: bytes, as without BTF.
        var raw = Run<BpfMapEntry>($"Read-BpfMap -Id {_w.BtfHashId} -Raw");
        Assert.All(raw, r => Assert.IsType<ItemList<byte>>(r.Value));
    }

    /// <summary>A decoded key or value is what bpftool's BTF dumper prints, field by field (its "formatted" JSON).</summary>
    private static void SameAsBpftool(JsonElement theirs, object? ours, string path)
    {
        switch (theirs.ValueKind)
        {
            case JsonValueKind.Object:
                var o = Assert.IsType<PSObject>(ours);
                Assert.Equal(theirs.EnumerateObject().Select(p => p.Name), o.Properties.Select(p => p.Name));
                foreach (var p in theirs.EnumerateObject()) SameAsBpftool(p.Value, o.Properties[p.Name].Value, $"{path}.{p.Name}");
                break;
            case JsonValueKind.Array:
                var a = Assert.IsType<object[]>(ours);
                Assert.True(theirs.GetArrayLength() == a.Length, $"{path}: {theirs.GetArrayLength()} elements, we have {a.Length}");
                int i = 0;
                foreach (var e in theirs.EnumerateArray()) { SameAsBpftool(e, a[i], $"{path}[{i}]"); i++; }
                break;
            case JsonValueKind.String:
                Assert.True(theirs.GetString() == Assert.IsType<string>(ours), $"{path}: bpftool {theirs.GetString()}, we {ours}");
                break;
            case JsonValueKind.Number:
                Assert.True(ours is sbyte or byte or short or ushort or int or uint or long or ulong, $"{path}: {ours?.GetType()} is not an integer");
                Assert.True(theirs.GetRawText() == Convert.ToString(ours, System.Globalization.CultureInfo.InvariantCulture), $"{path}: bpftool {theirs.GetRawText()}, we {ours}");
                break;
            default:
                Assert.Fail($"{path}: unexpected {theirs.ValueKind} from bpftool");
                break;
        }
    }

    [Fact]
    public void StructKeysNestedStructsArraysAndEnumsAreBpftools()
    {
        var dump = BpfWorld.Bpftool("map", "dump", "id", _w.NestedId.ToString()).EnumerateArray().Select(e => e.GetProperty("formatted")).ToList();
        var entries = Run<BpfMapEntry>($"Read-BpfMap -Id {_w.NestedId}");
        Assert.Equal(3, entries.Count);
        Assert.Equal(dump.Count, entries.Count);
        for (int i = 0; i < dump.Count; i++)
        {
            // Both walk the map with BPF_MAP_GET_NEXT_KEY, so the order is the same.
            SameAsBpftool(dump[i].GetProperty("key"), entries[i].Key, $"entry {i} key");
            SameAsBpftool(dump[i].GetProperty("value"), entries[i].Value, $"entry {i} value");
        }
        var bash = entries.Single(e => (uint)((PSObject)e.Key!).Properties["pid"].Value == 4242);
        Assert.Equal("bash", ((PSObject)bash.Key!).Properties["comm"].Value);
        var v = (PSObject)bash.Value!;
        Assert.Equal(-7L, ((PSObject)v.Properties["inner"].Value).Properties["count"].Value);
        Assert.Equal(new object[] { 0u, 9u, 0xffffffffu }, (object[])v.Properties["hist"].Value);
        Assert.Equal("KD_IDLE", v.Properties["state"].Value);
        // A value with no enumerator stays a number.
        Assert.Equal(1L, ((PSObject)entries.Single(e => (uint)((PSObject)e.Key!).Properties["pid"].Value == 7).Value!).Properties["state"].Value);
    }

    [Fact]
    public void PerCpuValuesDecodeThroughBtfAsBpftoolFormatsThem()
    {
        var dump = BpfWorld.Bpftool("map", "dump", "id", _w.PerCpuBtfId.ToString()).EnumerateArray().Single().GetProperty("formatted");
        var entry = Run<BpfMapEntry>($"Read-BpfMap -Id {_w.PerCpuBtfId}").Single();
        SameAsBpftool(dump.GetProperty("key"), entry.Key, "key");
        Assert.Null(entry.Value);
        var theirs = dump.GetProperty("values").EnumerateArray().ToList();
        Assert.Equal(theirs.Count, entry.CpuValues!.Length);
        foreach (var c in theirs) SameAsBpftool(c.GetProperty("value"), entry.CpuValues[c.GetProperty("cpu").GetInt32()], $"cpu {c.GetProperty("cpu")}");
        Assert.Equal(-1000L, entry.CpuValues[0]);
    }

    [Fact]
    public void PerCpuValuesComePerCpu()
    {
        var dump = BpfWorld.Bpftool("map", "dump", "id", _w.PerCpuId.ToString()).EnumerateArray().ToList();
        var entries = Run<BpfMapEntry>($"Get-BpfMap -Id {_w.PerCpuId} | Read-BpfMap");
        Assert.Equal(dump.Count, entries.Count);
        var one = entries.Single(e => (uint)e.Key! == 1);
        Assert.Null(one.Value);
        var theirValues = dump.Single(d => d.GetProperty("key").EnumerateArray().First().GetString() == "0x01").GetProperty("values").EnumerateArray()
            .Select(v => BitConverter.ToUInt64(v.GetProperty("value").EnumerateArray().Select(x => Convert.ToByte(x.GetString(), 16)).ToArray())).ToArray();
        Assert.Equal(theirValues, one.CpuValues!.Select(v => BitConverter.ToUInt64(((ItemList<byte>)v!).ToArray())).ToArray());
        Assert.Equal(100UL, BitConverter.ToUInt64(((ItemList<byte>)one.CpuValues![0]!).ToArray()));
        // The table shows bytes without BTF in hex, one group per CPU.
        var text = Run<string>($"Read-BpfMap -Id {_w.PerCpuId} | Out-String -Width 200").Single();
        var expected = string.Join(" | ", Enumerable.Range(0, one.CpuValues.Length).Select(c => $"{100 + c:x2} 00 00 00 00 00 00 00"));
        Assert.Matches($@"(?m)^ *{one.MapId} +{System.Text.RegularExpressions.Regex.Escape(one.MapName)} +1 +{System.Text.RegularExpressions.Regex.Escape(expected)}\s*$", text);
    }

    [Fact]
    public void TheTracepointProgramCountedTheCalls()
    {
        var entry = Run<BpfMapEntry>($"Read-BpfMap -Id {_w.CountMapId}").Single();
        Assert.Equal(0u, entry.Key);
        Assert.True(BitConverter.ToUInt64(((ItemList<byte>)entry.Value!).ToArray()) >= BpfWorld.GetppidCalls);
    }

    [Fact]
    public void RunStatisticsAreBpftools()
    {
        // Run statistics are on while the test holds its BPF_ENABLE_STATS fd; the counter ran at least once per getppid().
        ulong Theirs() => BpfWorld.Bpftool("prog", "show", "id", _w.CounterId.ToString()).GetProperty("run_cnt").GetUInt64();
        var before = Theirs();
        var p = Run<BpfProgram>($"Get-BpfProgram -Id {_w.CounterId}").Single();
        var after = Theirs();
        Assert.InRange(p.RunCount, before, after);
        Assert.True(p.RunCount >= BpfWorld.GetppidCalls);
        Assert.True(p.RunTime > TimeSpan.Zero);
        Assert.Equal((long)(p.RunTimeNanoseconds / 100), p.RunTime.Ticks);
    }

    [Fact]
    public void AMissingIdIsObjectNotFound()
    {
        var (output, errors) = _m.Invoke("Get-BpfProgram -Id 4000000000; Read-BpfMap -Id 4000000001");
        Assert.Empty(output);
        Assert.Equal(2, errors.Count);
        Assert.All(errors, e => Assert.Equal(ErrorCategory.ObjectNotFound, e.CategoryInfo.Category));
        Assert.Equal("BpfProgramNotFound", errors[0].FullyQualifiedErrorId.Split(',')[0]);
    }
}

public class BtfDecoderTests
{
    [Fact]
    public void DecodesStructsEnumsAndBitfields()
    {
        var spec = BtfSpec.Parse(BpfTestObjects.EncodeTestBtf());
        Assert.Equal(12, spec.Types.Count);
        Assert.Equal(24UL, spec.SizeOf(6));
        var v = Assert.IsType<PSObject>(spec.Decode(6, BpfTestObjects.KdValue(3, "abc", 9)));
        Assert.Equal(new[] { "count", "name", "flags" }, v.Properties.Select(p => p.Name));
        Assert.Equal(3L, v.Properties["count"].Value);
        Assert.Equal("abc", v.Properties["name"].Value);
        Assert.Equal(9u, v.Properties["flags"].Value);
        // low:3 = 5, high:5 = 17 → byte 0 = 5 | 17 << 3; state = KD_BUSY.
        var bits = new byte[8];
        bits[0] = (byte)(5 | (17 << 3) & 0xff);
        bits[1] = (byte)(17 >> 5);
        bits[4] = 2;
        var b = Assert.IsType<PSObject>(spec.Decode(8, bits));
        Assert.Equal(5u, b.Properties["low"].Value);
        Assert.Equal(17u, b.Properties["high"].Value);
        Assert.Equal("KD_BUSY", b.Properties["state"].Value);
        Assert.Equal("a", spec.Decode(5, new byte[] { 97, 0, 0, 0, 0, 0, 0, 1 }));
        var notText = Assert.IsType<object[]>(spec.Decode(5, new byte[] { 0xff, 1, 2, 3, 4, 5, 6, 7 }));
        Assert.Equal((sbyte)-1, notText[0]);
        Assert.Equal((sbyte)7, notText[7]);
    }

    [Fact]
    public void RefusesABlobWithoutTheMagic()
    {
        var e = Assert.Throws<KernelDebugException>(() => BtfSpec.Parse(new byte[32]));
        Assert.Equal("BtfMalformed", e.ErrorId);
    }
}
