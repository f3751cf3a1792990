using System.Buffers.Binary;
using KernelDebug.Bpf;
using KernelDebug.Native;
using Xunit;

namespace KernelDebug.Tests.Bpf;

/// <summary>
/// The ELF loader and CO-RE against the module's kd_events.bpf.o and the legacy-maps fixture: what the object
/// declares (as llvm-objdump and bpftool btf dump show it), relocations, linking, and CO-RE values checked against
/// the running kernel's BTF read independently here.
/// </summary>
public class BpfLoaderTests
{
    private static string RepoRoot()
    {
        var d = AppContext.BaseDirectory;
        while (d is not null && !File.Exists(Path.Combine(d, "KernelDebug.psd1"))) d = Path.GetDirectoryName(d);
        return d ?? throw new InvalidOperationException("repository root not found");
    }

    private static BpfObjectSpec KdEvents() => BpfObjectSpec.Read(Path.Combine(RepoRoot(), "src/KernelDebug.Engine/Bpf/Programs/kd_events.bpf.o"));

    [Fact]
    public void Programs_TakeTheirTypeAndTargetFromTheSectionName()
    {
        var spec = KdEvents();
        var tp = spec.Programs.Single(p => p.Name == "kd_getppid");
        Assert.Equal(5u, tp.Type); // BPF_PROG_TYPE_TRACEPOINT
        Assert.Equal(BpfAttachKind.Tracepoint, tp.AttachKind);
        Assert.Equal("syscalls/sys_enter_getppid", tp.AttachTarget);
        var raw = spec.Programs.Single(p => p.Name == "kd_sys_enter");
        Assert.Equal(17u, raw.Type); // BPF_PROG_TYPE_RAW_TRACEPOINT
        Assert.Equal("sys_enter", raw.AttachTarget);
        Assert.Equal("GPL", spec.License);
    }

    [Fact]
    public void Maps_BtfDefinedAndGlobalData()
    {
        var maps = KdEvents().Maps.ToDictionary(m => m.Name);
        Assert.Equal(27u, maps["events"].Type);
        Assert.Equal(4u << 20, maps["events"].MaxEntries);
        Assert.Equal(1u, maps["counts"].Type);
        Assert.Equal((4u, 8u, 1024u), (maps["counts"].KeySize, maps["counts"].ValueSize, maps["counts"].MaxEntries));
        Assert.NotEqual(0u, maps["counts"].BtfKeyTypeId);
        Assert.Equal(4u, maps["perf_events"].Type);
        Assert.Equal((uint)BpfMapReader.PossibleCpus(), maps["perf_events"].MaxEntries);
        // .rodata: target_tgid (4) + burst (4) + use_perf (1) = 9 bytes, read-only for programs, frozen after load.
        Assert.Equal(9u, maps[".rodata"].ValueSize);
        Assert.True(maps[".rodata"].IsReadOnly);
        Assert.Equal(0x80u, maps[".rodata"].Flags);
        Assert.Equal(16u, maps[".bss"].ValueSize); // seq, dropped
        Assert.False(maps[".data"].IsReadOnly);
    }

    [Fact]
    public void SetConstant_WritesTheVariableAtItsSymbolOffset()
    {
        var spec = KdEvents();
        spec.SetConstant("burst", 7);
        spec.SetConstant("use_perf", true);
        var data = spec.Maps.Single(m => m.Name == ".rodata").InitialData!;
        Assert.Equal(7u, BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(4)));
        Assert.Equal(1, data[8]);
        var e = Assert.Throws<KernelDebugException>(() => spec.SetConstant("use_perf", 256));
        Assert.Equal("BpfConstantInvalid", e.ErrorId);
        Assert.Equal("BpfConstantNotFound", Assert.Throws<KernelDebugException>(() => spec.SetConstant("nope", 1)).ErrorId);
        Assert.Equal("BpfConstantNotSettable", Assert.Throws<KernelDebugException>(() => spec.SetConstant("seq", 1)).ErrorId);
    }

    [Fact]
    public void Relocations_MapReferencesAndTheCallIntoText()
    {
        var spec = KdEvents();
        var main = spec.Functions.Single(f => f.Name == "kd_getppid");
        var fill = spec.Functions.Single(f => f.Name == "fill");
        Assert.False(fill.IsProgram);
        // llvm-objdump -r: 7 R_BPF_64_64 map and data references in the tracepoint section, two R_BPF_64_32 calls of fill.
        Assert.Equal(7, main.MapRefs.Count);
        Assert.Equal(2, main.Calls.Count);
        Assert.All(main.Calls, call => Assert.Equal((long)fill.Offset / 8, call.TargetInsn));
        Assert.Contains(main.MapRefs, r => spec.Maps[r.Map].Name == "events" && !r.Value);
        Assert.Contains(main.MapRefs, r => spec.Maps[r.Map].Name == ".rodata" && r.Value && r.Addend == 4); // burst
        // CO-RE records of .BTF.ext went to the function whose instructions they patch.
        Assert.True(fill.CoreRelos.Count >= 8);
        Assert.True(main.FuncInfo.Count == 1 && main.FuncInfo[0].Insn == 0);
    }

    [Fact]
    public void LegacyMapsSection()
    {
        var spec = BpfObjectSpec.Read(Path.Combine(RepoRoot(), "tests/fixtures/bpf/legacy_maps.bpf.o"));
        var m = spec.Maps.Single(x => x.Name == "legacy_counts");
        Assert.Equal((2u, 4u, 8u, 4u), (m.Type, m.KeySize, m.ValueSize, m.MaxEntries));
        Assert.Single(spec.Functions.Single(f => f.Name == "count_getppid").Calls);
    }

    [Fact]
    public void KernelBtf_DatasecSizesAndOffsetsFilledIn()
    {
        var spec = KdEvents();
        var fixedUp = BtfSpec.Parse(spec.KernelBtf!);
        var rodata = fixedUp.Types.Single(t => t.Kind == BtfKind.Datasec && t.Name == ".rodata");
        Assert.Equal(9u, rodata.Size);
        var offsets = rodata.Members.Select(m => (fixedUp[m.Type]!.Name, m.BitOffset / 8)).ToList();
        Assert.Contains(("target_tgid", 0u), offsets);
        Assert.Contains(("burst", 4u), offsets);
        Assert.Contains(("use_perf", 8u), offsets);
    }

    [Fact]
    public void Core_EssentialNameDropsTheFlavour()
    {
        Assert.Equal("task_struct", BpfCoreRelocator.Essential("task_struct___kd_missing"));
        Assert.Equal("task_struct", BpfCoreRelocator.Essential("task_struct"));
    }

    [Fact]
    public void Core_ValuesMatchTheKernelsBtf()
    {
        var vmlinux = BpfCoreRelocator.KernelBtf;
        if (vmlinux is null) return; // no CONFIG_DEBUG_INFO_BTF: nothing to compare with
        var spec = KdEvents();
        var local = spec.Btf!;
        var core = new BpfCoreRelocator(local, vmlinux);
        uint localTask = local.Types.Single(t => t.Kind == BtfKind.Struct && t.Name == "task_struct").Id;
        var kTask = vmlinux.Types.Single(t => t.Kind == BtfKind.Struct && t.Name == "task_struct");
        // Local task_struct is { pid, tgid, real_parent }: "0:1" is tgid, wherever the kernel has it.
        var tgid = FindMember(vmlinux, kTask, "tgid");
        Assert.Equal(tgid / 8, core.Resolve(localTask, "0:1", BpfCoreKind.FieldByteOffset));
        Assert.Equal(4UL, core.Resolve(localTask, "0:1", BpfCoreKind.FieldByteSize));
        Assert.Equal(1UL, core.Resolve(localTask, "0:1", BpfCoreKind.FieldExists));
        Assert.Equal(1UL, core.Resolve(localTask, "0:1", BpfCoreKind.FieldSigned));
        Assert.Equal(FindMember(vmlinux, kTask, "real_parent") / 8, core.Resolve(localTask, "0:2", BpfCoreKind.FieldByteOffset));
        Assert.Equal(kTask.Size, core.Resolve(localTask, "0", BpfCoreKind.TypeSize));
        Assert.Equal(1UL, core.Resolve(localTask, "0", BpfCoreKind.TypeExists));
        Assert.Equal(kTask.Id, core.Resolve(localTask, "0", BpfCoreKind.TypeIdTarget));
        // The flavour's field no kernel has: absent, and a byte offset for it cannot be had (the instruction is poisoned).
        uint missing = local.Types.Single(t => t.Name == "task_struct___kd_missing").Id;
        Assert.Equal(0UL, core.Resolve(missing, "0:0", BpfCoreKind.FieldExists));
        Assert.Null(core.Resolve(missing, "0:0", BpfCoreKind.FieldByteOffset));
        // enum pid_type { PIDTYPE_PID, PIDTYPE_TGID, ... }: index 1 is PIDTYPE_TGID, valued as the kernel says.
        uint pidType = local.Types.Single(t => t.Kind == BtfKind.Enum && t.Name == "pid_type").Id;
        var kEnum = vmlinux.Types.Single(t => t.Kind == BtfKind.Enum && t.Name == "pid_type");
        Assert.Equal((ulong)kEnum.Members.Single(m => m.Name == "PIDTYPE_TGID").Value, core.Resolve(pidType, "1", BpfCoreKind.EnumValue));
        Assert.Equal(1UL, core.Resolve(pidType, "1", BpfCoreKind.EnumValueExists));
    }

    private static ulong FindMember(BtfSpec btf, BtfType t, string name)
    {
        foreach (var m in t.Members)
        {
            if (m.Name == name) return m.BitOffset;
            if (m.Name.Length == 0 && btf.Resolve(m.Type) is { Kind: BtfKind.Struct or BtfKind.Union } inner)
                try { return m.BitOffset + FindMember(btf, inner, name); } catch (KeyNotFoundException) { }
        }
        throw new KeyNotFoundException(name);
    }

    [Fact]
    public void Core_PatchWritesOffsetsAndImmediatesAndPoisons()
    {
        var insns = new byte[32];
        insns[0] = 0x61; // ldx w
        insns[8] = 0xb7; // mov64 imm
        insns[16] = 0x18; // ld_imm64 (two slots)
        BpfCoreRelocator.Patch(insns, 0, 1234, "t");
        Assert.Equal(1234, BinaryPrimitives.ReadInt16LittleEndian(insns.AsSpan(2)));
        BpfCoreRelocator.Patch(insns, 1, 77, "t");
        Assert.Equal(77, BinaryPrimitives.ReadInt32LittleEndian(insns.AsSpan(12)));
        BpfCoreRelocator.Patch(insns, 2, null, "t");
        Assert.Equal(0x85, insns[16]);
        Assert.Equal(0xbad2310, BinaryPrimitives.ReadInt32LittleEndian(insns.AsSpan(20)));
        Assert.Equal(0x85, insns[24]);
    }

    [Fact]
    public void NotABpfObject_IsRefusedByName()
    {
        var e = Assert.Throws<KernelDebugException>(() => BpfObjectSpec.Read("/bin/true"));
        Assert.Equal("BpfObjectInvalid", e.ErrorId);
        Assert.Contains("EM_BPF", e.Message);
    }
}
