// SPDX-License-Identifier: GPL-2.0
// Measure-Syscall's BPF engine (strace -c in the kernel): per syscall number, calls, failed calls and time from
// entry to exit, summed in a per-CPU array. Nothing crosses to user space per call; user space reads the array
// (periodically for progress, once at the end). Which tasks count: kd_target.h.
// Build: clang -target bpf -g -O2 -c kd_syscount.bpf.c -o kd_syscount.bpf.o (build.ps1 -Task BpfPrograms).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "kd_target.h"

#define KD_MAX_SYSCALLS 1024

struct kd_count {
	__u64 calls;
	__u64 errors;
	__u64 ns;
};

// A thread's syscall in progress: its number and entry time (0: none, or already counted).
struct kd_start {
	__u64 ts;
	__s64 nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KD_MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, struct kd_count);
} kd_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct kd_start);
} kd_start SEC(".maps");

// Calls not counted because kd_start was full (more threads in syscalls than it holds): reported as lost.
__u64 kd_lost = 0;

static __always_inline void kd_thread_exit(__u32 tid)
{
	bpf_map_delete_elem(&kd_start, &tid);
}

SEC("raw_tracepoint/sys_enter")
int kd_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	long nr = (long)ctx->args[1];
	if (!kd_target_match(id >> 32, nr))
		return 0;
	// The thread's entry is written in place after its first call: one lookup, no update, per call.
	struct kd_start *s = bpf_map_lookup_elem(&kd_start, &tid);
	if (s) {
		s->nr = nr;
		s->ts = bpf_ktime_get_ns();
		return 0;
	}
	struct kd_start n = { .ts = bpf_ktime_get_ns(), .nr = nr };
	if (bpf_map_update_elem(&kd_start, &tid, &n, BPF_ANY))
		__sync_fetch_and_add(&kd_lost, 1);
	return 0;
}

SEC("raw_tracepoint/sys_exit")
int kd_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct kd_start *s = bpf_map_lookup_elem(&kd_start, &tid);
	if (!s || !s->ts)
		return 0;
	__u64 ns = bpf_ktime_get_ns() - s->ts;
	__s64 nr = s->nr;
	s->ts = 0;
	if (nr < 0 || nr >= KD_MAX_SYSCALLS)
		return 0;
	__u32 key = (__u32)nr;
	struct kd_count *c = bpf_map_lookup_elem(&kd_counts, &key);
	if (!c)
		return 0;
	long ret = (long)ctx->args[1];
	// Plain adds: the slot is this CPU's, and the kernel never runs this program twice at once on one CPU (a run
	// that comes in while another is preempted is skipped and counted in its recursion misses, reported as lost).
	c->calls++;
	c->ns += ns;
	if (ret < 0 && ret >= -4095)
		c->errors++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
