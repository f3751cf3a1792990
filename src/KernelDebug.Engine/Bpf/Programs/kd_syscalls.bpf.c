// SPDX-License-Identifier: GPL-2.0
// Get-SyscallTrace's BPF engine: raw_syscalls sys_enter saves a call's arguments (and the user memory its input
// arguments point to) in a per-thread record; sys_exit adds the return value and the output memory and sends the
// whole record to the ring buffer, one record per completed call. What to capture per syscall comes from `table`,
// filled by user space from SyscallTable's argument kinds; the filters (syscalls, failed/successful, targets) run
// here so that only requested calls cross to user space.
// Build: clang -target bpf -g -O2 -c kd_syscalls.bpf.c -o kd_syscalls.bpf.o (build.ps1 -Task BpfPrograms).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	int pid;
	int tgid;
	int exit_code;
} __attribute__((preserve_access_index));

// The tracepoints' fixed layouts (see events/raw_syscalls/*/format).
struct sys_enter_ctx {
	__u64 common;
	long id;
	unsigned long args[6];
};

struct sys_exit_ctx {
	__u64 common;
	long id;
	long ret;
};

// What to capture for one argument (kinds mirror SyscallCapture in SyscallBpfTable.cs).
enum kd_cap {
	CAP_NONE = 0,
	CAP_STR = 1,        // NUL-terminated string, at most `limit` bytes (entry)
	CAP_BUF_LEN = 2,    // min(args[lenarg], limit) bytes (entry)
	CAP_FIXED = 3,      // limit bytes (entry)
	CAP_ARGV = 4,       // a NULL-terminated pointer array and its strings (entry)
	CAP_OUT_RET = 5,    // min(ret, limit) bytes (exit, success only)
	CAP_OUT_FIXED = 6,  // limit bytes (exit, success only)
	CAP_OUT_SOCK = 7,   // the socklen_t at args[lenarg] (8 bytes), then that many bytes up to limit (exit, success only)
	CAP_PTRS = 8,       // a NULL-terminated pointer array of at most limit pointers, without strings (entry)
};

struct kd_arg_cap {
	__u8 kind;
	__u8 lenarg;
	__u16 limit;
};

struct kd_table_entry {
	__u32 selected;
	struct kd_arg_cap caps[6];
};

#define DATA_SIZE 32768        // record capture area (a power of two, for the verifier)
#define DATA_FILL_LIMIT 16384  // a capture starts only below this, so any capture (< 8192 + header) fits
#define CAP_MAX 4104
#define ARGV_MAX 33

enum kd_record_kind { KD_SYSCALL = 1, KD_UNFINISHED = 2, KD_EXIT = 3 };

// One capture: the user address it came from, then len bytes, padded to 8.
struct kd_capture {
	__u64 addr;
	__u32 len;
	__u32 flags;
};

struct kd_record {
	__u32 kind;
	__u32 tgid;
	__u32 tid;
	__s32 nr;
	__u64 args[6];
	__s64 ret;
	__u64 enter_ns;
	__u64 exit_ns;
	char comm[16];
	__u32 cap_len;   // bytes of captures after the header
	__u32 active;    // a call is in flight
	__u32 entry_len; // bytes of captures taken at entry (the rest were taken at exit)
	__u32 retry;     // arguments whose input memory was not readable at entry (a page not yet faulted in)
	__u8 data[DATA_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20);
} events SEC(".maps");

// Per-thread record being built (element kept for the thread's life, removed at its exit).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct kd_record);
} tasks SEC(".maps");

// A zeroed record to create elements from (the stack cannot hold one).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kd_record);
} zero SEC(".maps");

// Traced processes (-ProcessId, -Command and what they fork): tgid or tid -> state.
enum kd_pid_state { PID_WAIT_EXEC = 1, PID_TRACED = 2 };
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} pids SEC(".maps");

// Per syscall number: selected, and what to capture.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct kd_table_entry);
} table SEC(".maps");

// Records the full ring buffer had no room for, per CPU.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

enum kd_target { TARGET_PIDS = 0, TARGET_ALL = 1, TARGET_CGROUP = 2 };
const volatile __u32 target_mode = TARGET_PIDS;
const volatile __u32 self_tgid = 0;      // -All leaves out the tracing process
const volatile __u64 cgroup_id = 0;
const volatile __u32 follow_fork = 0;
const volatile __u32 result_filter = 0;  // 1: failed calls only, 2: successful calls only
const volatile __u32 execve_nr = 59;
const volatile __u32 execveat_nr = 322;
const volatile __u32 emit_exits = 1;

static __always_inline int traced(__u32 tgid, __u32 tid, __u32 nr)
{
	if (target_mode == TARGET_ALL)
		return tgid != self_tgid;
	if (target_mode == TARGET_CGROUP)
		return bpf_get_current_cgroup_id() == cgroup_id;
	__u32 *state = bpf_map_lookup_elem(&pids, &tgid);
	if (!state)
		state = bpf_map_lookup_elem(&pids, &tid);
	if (!state)
		return 0;
	if (*state == PID_WAIT_EXEC) {
		// A launched command: the launcher's own calls before its execve are not the command's.
		if (nr != execve_nr && nr != execveat_nr)
			return 0;
		*state = PID_TRACED;
	}
	return 1;
}

static __always_inline __u64 argn(struct kd_record *r, __u32 i)
{
	i &= 7;
	return i < 6 ? r->args[i] : 0;
}

static __always_inline void count_lost(void)
{
	__u32 k = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &k);
	if (n)
		*n += 1;
}

// Global functions (verified once each, not per call site). Appends one capture of up to CAP_MAX bytes at addr; str reads a NUL-terminated string.
__noinline int capture(struct kd_record *r, __u64 addr, __u32 size, __u32 str)
{
	if (!r)
		return 0;
	__u32 off = r->cap_len;
	if (!addr || off > DATA_FILL_LIMIT)
		return 0;
	if (size > CAP_MAX)
		size = CAP_MAX;
	// Masks the verifier can follow: the start below DATA_FILL_LIMIT + 16, the size below 8192.
	__u32 at = off + sizeof(struct kd_capture);
	asm volatile("%0 &= 0x7fff" : "+r"(at));
	asm volatile("%0 &= 0x1fff" : "+r"(size));
	if (at > DATA_FILL_LIMIT + sizeof(struct kd_capture))
		return 0;
	long n;
	if (size == 0)
		n = 0;
	else if (str)
		n = bpf_probe_read_user_str(&r->data[at], size, (void *)addr);
	else
		n = bpf_probe_read_user(&r->data[at], size, (void *)addr) == 0 ? (long)size : -1L;
	if (n < 0)
		return 0; // unreadable: user space shows the address, as for a bad pointer
	struct kd_capture *c = (void *)&r->data[at - sizeof(struct kd_capture)];
	c->addr = addr;
	c->len = n;
	c->flags = str;
	r->cap_len = off + sizeof(*c) + ((n + 7) & ~7);
	return 1;
}

// A NULL-terminated pointer array (argv, envp): the pointers up to and with the NULL (at most max), as one
// capture, then with strings each string (argv; envp is only counted).
__noinline int capture_ptrs(struct kd_record *r, __u64 addr, __u32 max, __u32 limit, __u32 strings)
{
	if (!r || !addr)
		return 0;
	__u32 n;
	for (n = 0; n < 512; n++) {
		__u64 p;
		if (n >= max || bpf_probe_read_user(&p, 8, (void *)(addr + 8 * n)))
			break;
		if (!p) {
			n++;
			break;
		}
	}
	if (!capture(r, addr, n * 8, 0) || n == 0)
		return 0;
	if (!strings)
		return 1;
	for (__u32 j = 0; j < ARGV_MAX; j++) {
		__u64 p;
		if (j >= n || bpf_probe_read_user(&p, 8, (void *)(addr + 8 * j)) || !p)
			break;
		capture(r, p, limit, 1);
	}
	return 1;
}

// Input memory the tracee has not touched yet (a string in a .rodata page never faulted in) cannot be read here:
// BPF cannot take page faults. Such an argument is marked and read again at exit, after the kernel's own copy
// faulted the page in.
__noinline int capture_input(struct kd_record *r, __u32 kind, __u64 a, __u64 len, __u32 limit)
{
	if (!r)
		return 1;
	switch (kind) {
	case CAP_STR:
		return capture(r, a, limit, 1);
	case CAP_BUF_LEN:
		return capture(r, a, len < limit ? len : limit, 0);
	case CAP_FIXED:
		return capture(r, a, limit, 0);
	case CAP_ARGV:
		return capture_ptrs(r, a, ARGV_MAX, limit, 1);
	case CAP_PTRS:
		return capture_ptrs(r, a, limit, 0, 0);
	}
	return 1;
}

__noinline int capture_entry(struct kd_record *r, struct kd_table_entry *t)
{
	if (!r || !t)
		return 0;
	r->retry = 0;
	for (int i = 0; i < 6; i++) {
		struct kd_arg_cap c = t->caps[i];
		__u64 a = r->args[i];
		if (!a || !(c.kind == CAP_STR || c.kind == CAP_BUF_LEN || c.kind == CAP_FIXED || c.kind == CAP_ARGV || c.kind == CAP_PTRS))
			continue;
		if (!capture_input(r, c.kind, a, argn(r, c.lenarg), c.limit))
			r->retry |= 1 << i;
	}
	return 0;
}

__noinline int capture_exit(struct kd_record *r, struct kd_table_entry *t, int failed)
{
	if (!r || !t)
		return 0;
	for (int i = 0; i < 6; i++) {
		struct kd_arg_cap c = t->caps[i];
		__u64 a = r->args[i];
		if (r->retry & (1 << i))
			capture_input(r, c.kind, a, argn(r, c.lenarg), c.limit);
		if (failed)
			continue; // a failed call's output arguments are shown as addresses
		switch (c.kind) {
		case CAP_OUT_RET: {
			__u64 len = r->ret > 0 ? r->ret : 0;
			capture(r, a, len < c.limit ? len : c.limit, 0);
			break;
		}
		case CAP_OUT_FIXED:
			capture(r, a, c.limit, 0);
			break;
		case CAP_OUT_SOCK: {
			__u64 lenaddr = argn(r, c.lenarg);
			__u32 len = 0;
			if (!lenaddr || bpf_probe_read_user(&len, 4, (void *)lenaddr))
				break;
			capture(r, lenaddr, 8, 0);
			capture(r, a, len < c.limit ? len : c.limit, 0);
			break;
		}
		}
	}
	return 0;
}

static __always_inline void send(struct kd_record *r)
{
	__u64 size = offsetof(struct kd_record, data) + (r->cap_len & (DATA_SIZE - 1));
	if (bpf_ringbuf_output(&events, r, size, 0))
		count_lost();
}

SEC("tracepoint/raw_syscalls/sys_enter")
int kd_sys_enter(struct sys_enter_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	__u32 nr = (__u32)ctx->id;
	if (!traced(tgid, tid, nr))
		return 0;
	struct kd_table_entry *t = bpf_map_lookup_elem(&table, &nr);
	if (!t || !t->selected)
		return 0;
	struct kd_record *r = bpf_map_lookup_elem(&tasks, &tid);
	if (!r) {
		__u32 k = 0;
		struct kd_record *z = bpf_map_lookup_elem(&zero, &k);
		if (!z)
			return 0;
		bpf_map_update_elem(&tasks, &tid, z, BPF_NOEXIST);
		r = bpf_map_lookup_elem(&tasks, &tid);
		if (!r)
			return 0;
	}
	r->kind = KD_SYSCALL;
	r->tgid = tgid;
	r->tid = tid;
	r->nr = nr;
	for (int i = 0; i < 6; i++)
		r->args[i] = ctx->args[i];
	r->ret = 0;
	r->cap_len = 0;
	r->active = 1;
	capture_entry(r, t);
	r->entry_len = r->cap_len;
	r->enter_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int kd_sys_exit(struct sys_exit_ctx *ctx)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct kd_record *r = bpf_map_lookup_elem(&tasks, &tid);
	if (!r || !r->active)
		return 0;
	r->active = 0;
	long ret = ctx->ret;
	// -4095..-1 is an errno (as strace and the kernel's IS_ERR_VALUE read it).
	int failed = ret < 0 && ret >= -4095;
	if ((result_filter == 1 && !failed) || (result_filter == 2 && failed))
		return 0;
	r->exit_ns = now;
	r->ret = ret;
	// A successful execve from a thread: the exit comes on the leader's tid, which is the tgid now.
	r->tgid = id >> 32;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	__u32 nr = r->nr;
	struct kd_table_entry *t = bpf_map_lookup_elem(&table, &nr);
	if (t)
		capture_exit(r, t, failed);
	send(r);
	return 0;
}

SEC("raw_tracepoint/sched_process_fork")
int kd_fork(struct bpf_raw_tracepoint_args *ctx)
{
	if (target_mode != TARGET_PIDS || !follow_fork)
		return 0;
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ppid = BPF_CORE_READ(parent, pid);
	__u32 cpid = BPF_CORE_READ(child, pid);
	__u32 *state = bpf_map_lookup_elem(&pids, &ptgid);
	if (!state)
		state = bpf_map_lookup_elem(&pids, &ppid);
	if (!state)
		return 0;
	__u32 v = PID_TRACED;
	bpf_map_update_elem(&pids, &cpid, &v, BPF_ANY);
	return 0;
}

SEC("raw_tracepoint/sched_process_exit")
int kd_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct kd_record *r = bpf_map_lookup_elem(&tasks, &tid);
	if (r) {
		if (r->active) {
			// exit, exit_group: the call that never returns, sent as unfinished (strace's "= ?").
			r->kind = KD_UNFINISHED;
			r->exit_ns = bpf_ktime_get_ns();
			r->active = 0;
			if (result_filter != 1)
				send(r);
		}
		if (emit_exits) {
			struct task_struct *task = (struct task_struct *)bpf_get_current_task();
			r->kind = KD_EXIT;
			r->tgid = tgid;
			r->ret = BPF_CORE_READ(task, exit_code);
			r->cap_len = 0;
			r->exit_ns = bpf_ktime_get_ns();
			bpf_get_current_comm(r->comm, sizeof(r->comm));
			send(r);
		}
		bpf_map_delete_elem(&tasks, &tid);
	}
	bpf_map_delete_elem(&pids, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
