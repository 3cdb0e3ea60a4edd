/* SPDX-License-Identifier: GPL-2.0 */
/*
 * schedcp_batch: shortest (or longest) expected job first, learned from history.
 *
 * Algorithm: when a task exits, the CPU time it used is folded into a per-command
 * history (a moving average keyed by the 16-byte comm). A new task with a known command
 * is expected to need that much; an unknown one DEFAULT_JOB_MS. Runnable tasks wait in
 * one queue ordered by expected remaining work (expected minus what they have already
 * used): short jobs first when LONGEST_FIRST is 0, which shortens the mean completion
 * time of a long-tail batch; long jobs first when it is 1, which shortens the makespan
 * when a few long jobs would otherwise start late and finish last.
 *
 * Good at: batches of repeated commands with unequal lengths (ETL steps, test shards,
 * builds), where history predicts the next run.
 * Bad at: interactive work (long slices, no wakeup boost), and with LONGEST_FIRST=0 a
 * steady stream of short jobs can starve a long one.
 *
 * Tunables (-D at build time):
 *   SLICE_US        time slice in microseconds.
 *   DEFAULT_JOB_MS  expected CPU time of a command never seen before.
 *   LONGEST_FIRST   0: shortest expected remaining work first; 1: longest first.
 */
#include "schedcp.bpf.h"

#ifndef SLICE_US
#define SLICE_US 20000
#endif
#ifndef DEFAULT_JOB_MS
#define DEFAULT_JOB_MS 100
#endif
#ifndef LONGEST_FIRST
#define LONGEST_FIRST 0
#endif

#define JOB_DSQ 0
#define SLICE_NS (SLICE_US * SCHEDCP_USEC)
#define NSEC_PER_MSEC 1000000ULL

struct comm_key {
	char comm[16];
};

struct job {
	u64 expected;  /* CPU time this task is expected to need in all */
	u64 used;      /* CPU time it has had so far */
	u64 started;   /* start of the current burst */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct comm_key);
	__type(value, u64);
} history SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct job);
} jobs SEC(".maps");

static __always_inline void comm_of(struct task_struct *p, struct comm_key *key)
{
	__builtin_memcpy(key->comm, p->comm, sizeof(key->comm));
}

static __always_inline u64 remaining(struct job *job)
{
	return job->expected > job->used ? job->expected - job->used : 0;
}

s32 SCHEDCP_OPS(batch_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool idle = false;
	s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &idle);

	if (idle)
		schedcp_insert(p, SCX_DSQ_LOCAL, SLICE_NS, 0);
	return cpu;
}

void SCHEDCP_OPS(batch_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct job *job = bpf_task_storage_get(&jobs, p, 0, 0);
	u64 key = job ? remaining(job) : DEFAULT_JOB_MS * NSEC_PER_MSEC;

	/* The queue runs the smallest key first; mirroring it puts the largest first. */
	if (LONGEST_FIRST)
		key = (1ULL << 62) - key;
	schedcp_insert_vtime(p, JOB_DSQ, SLICE_NS, key, enq_flags);
}

void SCHEDCP_OPS(batch_dispatch, s32 cpu, struct task_struct *prev)
{
	schedcp_move_to_local(JOB_DSQ);
}

void SCHEDCP_OPS(batch_running, struct task_struct *p)
{
	struct job *job = bpf_task_storage_get(&jobs, p, 0, 0);

	if (job)
		job->started = schedcp_now();
}

void SCHEDCP_OPS(batch_stopping, struct task_struct *p, bool runnable)
{
	struct job *job = bpf_task_storage_get(&jobs, p, 0, 0);

	if (job && job->started)
		job->used += schedcp_now() - job->started;
}

void SCHEDCP_OPS(batch_enable, struct task_struct *p)
{
	struct job *job = bpf_task_storage_get(&jobs, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	struct comm_key key = {};
	u64 *expected;

	if (!job)
		return;
	comm_of(p, &key);
	expected = bpf_map_lookup_elem(&history, &key);
	job->expected = expected ? *expected : DEFAULT_JOB_MS * NSEC_PER_MSEC;
}

void SCHEDCP_OPS(batch_disable, struct task_struct *p)
{
	struct job *job = bpf_task_storage_get(&jobs, p, 0, 0);
	struct comm_key key = {};
	u64 *old, learned;

	if (!job || !job->used)
		return;
	comm_of(p, &key);
	old = bpf_map_lookup_elem(&history, &key);
	learned = old ? (*old * 3 + job->used) / 4 : job->used;
	bpf_map_update_elem(&history, &key, &learned, BPF_ANY);
}

s32 SCHEDCP_OPS_SLEEPABLE(batch_init)
{
	return scx_bpf_create_dsq(JOB_DSQ, -1);
}

SCHEDCP_EXIT(batch_exit)

SEC(".struct_ops.link")
struct sched_ext_ops batch_ops = {
	.select_cpu = (void *)batch_select_cpu,
	.enqueue = (void *)batch_enqueue,
	.dispatch = (void *)batch_dispatch,
	.running = (void *)batch_running,
	.stopping = (void *)batch_stopping,
	.enable = (void *)batch_enable,
	.disable = (void *)batch_disable,
	.init = (void *)batch_init,
	.exit = (void *)batch_exit,
	.name = "schedcp_batch",
};
