// SPDX-License-Identifier: GPL-2.0
// Which tasks a syscall program counts, shared by the module's syscall programs (SyscallTargetFilter sets it up):
//   KD_TARGET_PIDS    the processes (tgids) in kd_pids; -FollowFork adds their children on sched_process_fork, and a
//                     process leaves the set when its last thread exits. A launched command (kd_launch_tgid) joins
//                     at its execve, so the launcher's own calls before it are not counted.
//   KD_TARGET_ALL     every task except the module's own process (kd_self_tgid, all its threads).
//   KD_TARGET_CGROUP  tasks in the cgroup v2 kd_cgroup_id at level kd_cgroup_level, or below it.
// Include after the libbpf headers; the program attaches kd_target_fork and kd_target_exit (raw tracepoints).
#ifndef KD_TARGET_H
#define KD_TARGET_H

#define KD_TARGET_PIDS 1
#define KD_TARGET_ALL 2
#define KD_TARGET_CGROUP 3

// CO-RE: offsets from the running kernel's BTF.
struct signal_struct {
	struct {
		int counter;
	} live;
} __attribute__((preserve_access_index));

struct task_struct {
	int pid;
	int tgid;
	struct signal_struct *signal;
} __attribute__((preserve_access_index));

const volatile __u32 kd_target_mode = 0;
const volatile __u32 kd_self_tgid = 0;
const volatile __u32 kd_launch_tgid = 0;
const volatile __s64 kd_execve_nr = -1;
const volatile __u64 kd_cgroup_id = 0;
const volatile __u32 kd_cgroup_level = 0;
const volatile __u8 kd_follow_fork = 0;

// The target processes (KD_TARGET_PIDS): tgid -> 1.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} kd_pids SEC(".maps");

// Processes the set had no room for (a fork bomb under -FollowFork): reported as a warning.
__u64 kd_pids_full = 0;

// Does this task count? Called at syscall entry with its number (a launched command joins at its execve).
static __always_inline int kd_target_match(__u32 tgid, long nr)
{
	if (kd_target_mode == KD_TARGET_ALL)
		return tgid != kd_self_tgid;
	if (kd_target_mode == KD_TARGET_CGROUP)
		return bpf_get_current_ancestor_cgroup_id(kd_cgroup_level) == kd_cgroup_id;
	if (bpf_map_lookup_elem(&kd_pids, &tgid))
		return 1;
	if (kd_launch_tgid && tgid == kd_launch_tgid && nr == kd_execve_nr) {
		__u8 one = 1;
		bpf_map_update_elem(&kd_pids, &tgid, &one, BPF_NOEXIST);
		return 1;
	}
	return 0;
}

SEC("raw_tracepoint/sched_process_fork")
int kd_target_fork(struct bpf_raw_tracepoint_args *ctx)
{
	if (kd_target_mode != KD_TARGET_PIDS || !kd_follow_fork)
		return 0;
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u32 parent = bpf_get_current_pid_tgid() >> 32;
	__u32 tgid = BPF_CORE_READ(child, tgid);
	// A new thread shares its process's tgid: already counted.
	if (tgid == parent || !bpf_map_lookup_elem(&kd_pids, &parent))
		return 0;
	__u8 one = 1;
	if (bpf_map_update_elem(&kd_pids, &tgid, &one, BPF_NOEXIST) == -7 /* E2BIG: full */)
		__sync_fetch_and_add(&kd_pids_full, 1);
	return 0;
}

// The last thread of a process leaves the set with it (signal->live is already decremented here), so a reused pid
// is not counted and user space sees when every target has ended. kd_thread_exit is the program's own cleanup.
static __always_inline void kd_thread_exit(__u32 tid);

SEC("raw_tracepoint/sched_process_exit")
int kd_target_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	kd_thread_exit((__u32)id);
	if (kd_target_mode != KD_TARGET_PIDS)
		return 0;
	__u32 tgid = id >> 32;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, signal, live.counter) == 0)
		bpf_map_delete_elem(&kd_pids, &tgid);
	return 0;
}

#endif
