using System.Runtime.InteropServices;
using KernelDebug.Native;
using Xunit;

namespace KernelDebug.Tests.Bpf;

/// <summary>The union bpf_attr parts and bpf_*_info structs against the installed linux/bpf.h.</summary>
public class BpfLayoutTests
{
    private static readonly (Type Struct, string Field, string C)[] Fields =
    {
        (typeof(BpfIdAttr), nameof(BpfIdAttr.StartId), "offsetof(union bpf_attr, start_id)"),
        (typeof(BpfIdAttr), nameof(BpfIdAttr.NextId), "offsetof(union bpf_attr, next_id)"),
        (typeof(BpfIdAttr), nameof(BpfIdAttr.OpenFlags), "offsetof(union bpf_attr, open_flags)"),
        (typeof(BpfInfoAttr), nameof(BpfInfoAttr.BpfFd), "offsetof(union bpf_attr, info.bpf_fd)"),
        (typeof(BpfInfoAttr), nameof(BpfInfoAttr.InfoLen), "offsetof(union bpf_attr, info.info_len)"),
        (typeof(BpfInfoAttr), nameof(BpfInfoAttr.Info), "offsetof(union bpf_attr, info.info)"),
        (typeof(BpfMapElemAttr), nameof(BpfMapElemAttr.MapFd), "offsetof(union bpf_attr, map_fd)"),
        (typeof(BpfMapElemAttr), nameof(BpfMapElemAttr.Key), "offsetof(union bpf_attr, key)"),
        (typeof(BpfMapElemAttr), nameof(BpfMapElemAttr.ValueOrNextKey), "offsetof(union bpf_attr, next_key)"),
        (typeof(BpfMapElemAttr), nameof(BpfMapElemAttr.Flags), "offsetof(union bpf_attr, flags)"),
        (typeof(BpfMapCreateAttr), nameof(BpfMapCreateAttr.MapType), "offsetof(union bpf_attr, map_type)"),
        (typeof(BpfMapCreateAttr), nameof(BpfMapCreateAttr.MaxEntries), "offsetof(union bpf_attr, max_entries)"),
        (typeof(BpfMapCreateAttr), nameof(BpfMapCreateAttr.MapName), "offsetof(union bpf_attr, map_name)"),
        (typeof(BpfMapCreateAttr), nameof(BpfMapCreateAttr.BtfFd), "offsetof(union bpf_attr, btf_fd)"),
        (typeof(BpfMapCreateAttr), nameof(BpfMapCreateAttr.BtfValueTypeId), "offsetof(union bpf_attr, btf_value_type_id)"),
        (typeof(BpfMapCreateAttr), nameof(BpfMapCreateAttr.MapExtra), "offsetof(union bpf_attr, map_extra)"),
        (typeof(BpfProgLoadAttr), nameof(BpfProgLoadAttr.InsnCnt), "offsetof(union bpf_attr, insn_cnt)"),
        (typeof(BpfProgLoadAttr), nameof(BpfProgLoadAttr.License), "offsetof(union bpf_attr, license)"),
        (typeof(BpfProgLoadAttr), nameof(BpfProgLoadAttr.LogBuf), "offsetof(union bpf_attr, log_buf)"),
        (typeof(BpfProgLoadAttr), nameof(BpfProgLoadAttr.ProgName), "offsetof(union bpf_attr, prog_name)"),
        (typeof(BpfProgLoadAttr), nameof(BpfProgLoadAttr.ExpectedAttachType), "offsetof(union bpf_attr, expected_attach_type)"),
        (typeof(BpfProgLoadAttr), nameof(BpfProgLoadAttr.ProgBtfFd), "offsetof(union bpf_attr, prog_btf_fd)"),
        (typeof(BpfProgLoadAttr), nameof(BpfProgLoadAttr.FuncInfoRecSize), "offsetof(union bpf_attr, func_info_rec_size)"),
        (typeof(BpfProgLoadAttr), nameof(BpfProgLoadAttr.FuncInfo), "offsetof(union bpf_attr, func_info)"),
        (typeof(BpfProgLoadAttr), nameof(BpfProgLoadAttr.FuncInfoCnt), "offsetof(union bpf_attr, func_info_cnt)"),
        (typeof(BpfProgLoadAttr), nameof(BpfProgLoadAttr.LineInfoRecSize), "offsetof(union bpf_attr, line_info_rec_size)"),
        (typeof(BpfProgLoadAttr), nameof(BpfProgLoadAttr.LineInfo), "offsetof(union bpf_attr, line_info)"),
        (typeof(BpfProgLoadAttr), nameof(BpfProgLoadAttr.LineInfoCnt), "offsetof(union bpf_attr, line_info_cnt)"),
        (typeof(BpfProgLoadAttr), nameof(BpfProgLoadAttr.AttachBtfId), "offsetof(union bpf_attr, attach_btf_id)"),
        (typeof(BpfProgLoadAttr), nameof(BpfProgLoadAttr.AttachBtfObjFd), "offsetof(union bpf_attr, attach_btf_obj_fd)"),
        (typeof(BpfBtfLoadAttr), nameof(BpfBtfLoadAttr.BtfLogBuf), "offsetof(union bpf_attr, btf_log_buf)"),
        (typeof(BpfBtfLoadAttr), nameof(BpfBtfLoadAttr.BtfSize), "offsetof(union bpf_attr, btf_size)"),
        (typeof(BpfBtfLoadAttr), nameof(BpfBtfLoadAttr.BtfLogLevel), "offsetof(union bpf_attr, btf_log_level)"),
        (typeof(BpfLinkCreateAttr), nameof(BpfLinkCreateAttr.TargetFd), "offsetof(union bpf_attr, link_create.target_fd)"),
        (typeof(BpfLinkCreateAttr), nameof(BpfLinkCreateAttr.AttachType), "offsetof(union bpf_attr, link_create.attach_type)"),
        (typeof(BpfLinkCreateAttr), nameof(BpfLinkCreateAttr.BpfCookie), "offsetof(union bpf_attr, link_create.perf_event.bpf_cookie)"),
        (typeof(BpfRawTracepointAttr), nameof(BpfRawTracepointAttr.ProgFd), "offsetof(union bpf_attr, raw_tracepoint.prog_fd)"),
        (typeof(BpfProgInfo), nameof(BpfProgInfo.Tag), "offsetof(struct bpf_prog_info, tag)"),
        (typeof(BpfProgInfo), nameof(BpfProgInfo.LoadTime), "offsetof(struct bpf_prog_info, load_time)"),
        (typeof(BpfProgInfo), nameof(BpfProgInfo.MapIds), "offsetof(struct bpf_prog_info, map_ids)"),
        (typeof(BpfProgInfo), nameof(BpfProgInfo.Name), "offsetof(struct bpf_prog_info, name)"),
        (typeof(BpfProgInfo), nameof(BpfProgInfo.NetnsDev), "offsetof(struct bpf_prog_info, netns_dev)"),
        (typeof(BpfProgInfo), nameof(BpfProgInfo.BtfId), "offsetof(struct bpf_prog_info, btf_id)"),
        (typeof(BpfProgInfo), nameof(BpfProgInfo.JitedLineInfo), "offsetof(struct bpf_prog_info, jited_line_info)"),
        (typeof(BpfProgInfo), nameof(BpfProgInfo.ProgTags), "offsetof(struct bpf_prog_info, prog_tags)"),
        (typeof(BpfProgInfo), nameof(BpfProgInfo.RunTimeNs), "offsetof(struct bpf_prog_info, run_time_ns)"),
        (typeof(BpfProgInfo), nameof(BpfProgInfo.RunCnt), "offsetof(struct bpf_prog_info, run_cnt)"),
        (typeof(BpfProgInfo), nameof(BpfProgInfo.VerifiedInsns), "offsetof(struct bpf_prog_info, verified_insns)"),
        (typeof(BpfProgInfo), nameof(BpfProgInfo.AttachBtfId), "offsetof(struct bpf_prog_info, attach_btf_id)"),
        (typeof(BpfMapInfo), nameof(BpfMapInfo.MapFlags), "offsetof(struct bpf_map_info, map_flags)"),
        (typeof(BpfMapInfo), nameof(BpfMapInfo.Name), "offsetof(struct bpf_map_info, name)"),
        (typeof(BpfMapInfo), nameof(BpfMapInfo.BtfId), "offsetof(struct bpf_map_info, btf_id)"),
        (typeof(BpfMapInfo), nameof(BpfMapInfo.BtfValueTypeId), "offsetof(struct bpf_map_info, btf_value_type_id)"),
        (typeof(BpfMapInfo), nameof(BpfMapInfo.MapExtra), "offsetof(struct bpf_map_info, map_extra)"),
        (typeof(BpfBtfInfo), nameof(BpfBtfInfo.BtfSize), "offsetof(struct bpf_btf_info, btf_size)"),
        (typeof(BpfBtfInfo), nameof(BpfBtfInfo.Id), "offsetof(struct bpf_btf_info, id)"),
        (typeof(BpfBtfInfo), nameof(BpfBtfInfo.Name), "offsetof(struct bpf_btf_info, name)"),
        (typeof(BpfBtfInfo), nameof(BpfBtfInfo.KernelBtf), "offsetof(struct bpf_btf_info, kernel_btf)"),
        (typeof(BpfLinkInfo), nameof(BpfLinkInfo.ProgId), "offsetof(struct bpf_link_info, prog_id)"),
        (typeof(BpfLinkInfo), nameof(BpfLinkInfo.RawTpName), "offsetof(struct bpf_link_info, raw_tracepoint.tp_name)"),
        (typeof(BpfLinkInfo), nameof(BpfLinkInfo.RawTpNameLen), "offsetof(struct bpf_link_info, raw_tracepoint.tp_name_len)"),
        (typeof(BpfLinkInfo), nameof(BpfLinkInfo.TracingTargetObjId), "offsetof(struct bpf_link_info, tracing.target_obj_id)"),
        (typeof(BpfLinkInfo), nameof(BpfLinkInfo.TracingTargetBtfId), "offsetof(struct bpf_link_info, tracing.target_btf_id)"),
        (typeof(BpfLinkInfo), nameof(BpfLinkInfo.CgroupId), "offsetof(struct bpf_link_info, cgroup.cgroup_id)"),
        (typeof(BpfLinkInfo), nameof(BpfLinkInfo.CgroupAttachType), "offsetof(struct bpf_link_info, cgroup.attach_type)"),
        (typeof(BpfLinkInfo), nameof(BpfLinkInfo.IterTargetNameLen), "offsetof(struct bpf_link_info, iter.target_name_len)"),
        (typeof(BpfLinkInfo), nameof(BpfLinkInfo.IterMapId), "offsetof(struct bpf_link_info, iter.map.map_id)"),
        (typeof(BpfLinkInfo), nameof(BpfLinkInfo.NetnsAttachType), "offsetof(struct bpf_link_info, netns.attach_type)"),
        (typeof(BpfLinkInfo), nameof(BpfLinkInfo.XdpIfIndex), "offsetof(struct bpf_link_info, xdp.ifindex)"),
    };

    private static readonly (Type Struct, string C)[] Sizes =
    {
        (typeof(BpfProgInfo), "sizeof(struct bpf_prog_info)"), (typeof(BpfMapInfo), "sizeof(struct bpf_map_info)"),
        (typeof(BpfBtfInfo), "sizeof(struct bpf_btf_info)"),
    };

    [Fact]
    public void ListDirectoryMatchesDotNet()
    {
        var ours = Interop.ListDirectory("/proc/self/fd")!;
        Assert.NotEmpty(ours);
        Assert.DoesNotContain(".", ours);
        var net = Directory.GetFileSystemEntries("/proc/self").Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(net, Interop.ListDirectory("/proc/self")!.Order().ToArray());
        Assert.Null(Interop.ListDirectory("/nonexistent-kd"));
    }

    [Fact]
    public void StructsMatchLinuxBpfH()
    {
        if (!File.Exists("/usr/include/linux/bpf.h")) return;
        var c = CHeader.Evaluate("#include <linux/bpf.h>",
            Fields.Select((f, i) => ($"f{i}", f.C)).Concat(Sizes.Select((s, i) => ($"s{i}", s.C))));
        Assert.NotNull(c);
        for (int i = 0; i < Fields.Length; i++)
            Assert.True(c![$"f{i}"] == (long)Marshal.OffsetOf(Fields[i].Struct, Fields[i].Field), $"{Fields[i].Struct.Name}.{Fields[i].Field}: header says {c[$"f{i}"]}, we say {Marshal.OffsetOf(Fields[i].Struct, Fields[i].Field)}");
        // The info structs may grow in newer headers; the kernel fills what the size we pass covers.
        for (int i = 0; i < Sizes.Length; i++)
            Assert.True(Marshal.SizeOf(Sizes[i].Struct) <= c![$"s{i}"] || Sizes[i].Struct == typeof(BpfProgInfo), $"{Sizes[i].Struct.Name}");
        Assert.Equal(c!["s0"], Marshal.SizeOf<BpfProgInfo>());
        Assert.Equal(c["s1"], Marshal.SizeOf<BpfMapInfo>());
        Assert.Equal(c["s2"], Marshal.SizeOf<BpfBtfInfo>());
    }

    [Fact]
    public void CommandAndTypeNumbersMatchLinuxBpfH()
    {
        var c = CHeader.Evaluate("#include <linux/bpf.h>", new[]
        {
            ("get_fd_by_id", "BPF_LINK_GET_FD_BY_ID"), ("link_next", "BPF_LINK_GET_NEXT_ID"), ("btf_load", "BPF_BTF_LOAD"),
            ("link_create", "BPF_LINK_CREATE"), ("raw_tp_open", "BPF_RAW_TRACEPOINT_OPEN"), ("next_key", "BPF_MAP_GET_NEXT_KEY"),
            ("perf_event", "BPF_PERF_EVENT"), ("lru_percpu", "BPF_MAP_TYPE_LRU_PERCPU_HASH"), ("syscall", "BPF_PROG_TYPE_SYSCALL"),
            ("sk_lookup_at", "BPF_SK_LOOKUP"), ("user_ringbuf", "BPF_MAP_TYPE_USER_RINGBUF"), ("tail_call", "BPF_FUNC_tail_call"),
            ("last_helper", "__BPF_FUNC_MAX_ID"),
        });
        if (c is null) return;
        var sys = CHeader.Evaluate("#include <sys/syscall.h>\n#include <fcntl.h>", new[] { ("getdents64", "SYS_getdents64"), ("o_directory", "O_DIRECTORY") });
        Assert.Equal(sys!["getdents64"], SyscallNumbers.Getdents64);
        Assert.Equal(Interop.O_DIRECTORY, sys["o_directory"]);
        Assert.Equal(Interop.BPF_LINK_GET_FD_BY_ID, c["get_fd_by_id"]);
        Assert.Equal(Interop.BPF_LINK_GET_NEXT_ID, c["link_next"]);
        Assert.Equal(Interop.BPF_BTF_LOAD, c["btf_load"]);
        Assert.Equal(Interop.BPF_LINK_CREATE, c["link_create"]);
        Assert.Equal(Interop.BPF_RAW_TRACEPOINT_OPEN, c["raw_tp_open"]);
        Assert.Equal(Interop.BPF_MAP_GET_NEXT_KEY, c["next_key"]);
        Assert.Equal("perf_event", KernelDebug.Bpf.BpfNames.AttachType((uint)c["perf_event"]));
        Assert.Equal("sk_lookup", KernelDebug.Bpf.BpfNames.AttachType((uint)c["sk_lookup_at"]));
        Assert.Equal("lru_percpu_hash", KernelDebug.Bpf.BpfNames.MapType((uint)c["lru_percpu"]));
        Assert.Equal("user_ringbuf", KernelDebug.Bpf.BpfNames.MapType((uint)c["user_ringbuf"]));
        Assert.Equal("syscall", KernelDebug.Bpf.BpfNames.ProgramType((uint)c["syscall"]));
        Assert.Equal("bpf_tail_call", KernelDebug.Bpf.BpfNames.Helpers[c["tail_call"]]);
        Assert.True(KernelDebug.Bpf.BpfNames.Helpers.Length >= c["last_helper"]);
    }
}
