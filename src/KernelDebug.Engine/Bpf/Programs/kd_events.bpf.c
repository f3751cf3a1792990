// SPDX-License-Identifier: GPL-2.0
// The module's ring-buffer emitter: one record per getppid(2) of the target process (or `burst` records, for the
// throughput bench), to the BPF ring buffer or, with use_perf, to the perf event array. It exercises what the
// loader must handle: BTF maps, .rodata constants, .bss/.data, a bpf-to-bpf call, CO-RE field, type and enum
// relocations against the running kernel, a tracepoint and a raw tracepoint program.
// Build: clang -target bpf -g -O2 -c kd_events.bpf.c -o kd_events.bpf.o (build.ps1 -Task BpfPrograms).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

// The few kernel types used, with CO-RE: their offsets come from the running kernel's BTF, not from this header.
struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
} __attribute__((preserve_access_index));

// A flavour (___suffix) naming a field no kernel has: bpf_core_field_exists must say 0.
struct task_struct___kd_missing {
	int kd_no_such_field;
} __attribute__((preserve_access_index));

struct trace_event_raw_sys_enter {
	long id;
	unsigned long args[6];
} __attribute__((preserve_access_index));

enum pid_type { PIDTYPE_PID, PIDTYPE_TGID, PIDTYPE_PGID, PIDTYPE_SID, PIDTYPE_MAX };

enum kd_event_kind { KD_EVENT_SYSCALL = 1, KD_EVENT_BURST = 2 };

struct kd_event {
	__u32 pid;
	__u32 tgid;
	__u32 ppid;
	enum kd_event_kind kind;
	__u64 seq;
	__u64 syscall_nr;
	__u32 tgid_exists;
	__u32 missing_exists;
	__u32 task_exists;
	__u32 pidtype_tgid;
	__u32 tgid_size;
	__u32 index;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

const volatile __u32 target_tgid = 0;
const volatile __u32 burst = 1;
const volatile __u8 use_perf = 0;

__u64 seq = 0;                 // .bss
__u64 dropped = 0;             // .bss: records the full ring buffer had no room for (the bench's lost count)
__u64 emitted SEC(".data") = 0; // .data, set to show it is not zeroed

static __noinline int fill(struct kd_event *e, struct trace_event_raw_sys_enter *ctx, __u32 index)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();

	e->pid = (__u32)id;
	e->tgid = id >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->syscall_nr = BPF_CORE_READ(ctx, id);
	e->tgid_exists = bpf_core_field_exists(task->tgid);
	e->missing_exists = bpf_core_field_exists(((struct task_struct___kd_missing *)0)->kd_no_such_field);
	e->task_exists = bpf_core_type_exists(struct task_struct);
	e->pidtype_tgid = bpf_core_enum_value(enum pid_type, PIDTYPE_TGID);
	e->tgid_size = bpf_core_field_size(task->tgid);
	e->kind = burst > 1 ? KD_EVENT_BURST : KD_EVENT_SYSCALL;
	e->seq = __sync_fetch_and_add(&seq, 1);
	e->index = index;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int kd_getppid(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (target_tgid && tgid != target_tgid)
		return 0;
	for (__u32 i = 0; i < 1024 && i < burst; i++) {
		if (use_perf) {
			struct kd_event e = {};
			fill(&e, ctx, i);
			bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, &e, sizeof(e));
		} else {
			struct kd_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
			if (!e) {
				__sync_fetch_and_add(&dropped, 1);
				continue;
			}
			fill(e, ctx, i);
			bpf_ringbuf_submit(e, 0);
		}
		__sync_fetch_and_add(&emitted, 1);
	}
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int kd_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!target_tgid || tgid != target_tgid)
		return 0;
	__u32 nr = (__u32)ctx->args[1];
	__u64 one = 1, *n = bpf_map_lookup_elem(&counts, &nr);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&counts, &nr, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
