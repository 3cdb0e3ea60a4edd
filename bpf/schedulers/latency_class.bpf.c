/* SPDX-License-Identifier: GPL-2.0 */
/*
 * schedcp_latency_class: the cgroups of latency-critical pods go first.
 *
 * Algorithm: the node agent fills `cgroup_class` with the cgroup ids of the pods a
 * policy protects (class LATENCY) and, optionally, of batch pods (class BATCH). Tasks
 * of latency cgroups wait in their own queue, which every CPU drains before the shared
 * queue, and run with a short slice; when one wakes and no CPU is idle, the CPU it last
 * ran on is told to preempt, unless that CPU is already running a latency task.
 * Everything else shares a FIFO queue with a longer slice.
 *
 * Good at: p99 wakeup latency of a known set of pods next to CPU-heavy batch work.
 * Bad at: fairness when latency pods are themselves CPU-bound (they can starve the rest
 * for as long as they stay runnable), and anything when the map is empty (then it is a
 * FIFO with the batch slice).
 *
 * Tunables (-D at build time):
 *   LATENCY_SLICE_US  slice of latency-class tasks, microseconds.
 *   BATCH_SLICE_US    slice of every other task, microseconds.
 *   PREEMPT           1: a waking latency task preempts a CPU running another class.
 */
#include "schedcp.bpf.h"

#ifndef LATENCY_SLICE_US
#define LATENCY_SLICE_US 1000
#endif
#ifndef BATCH_SLICE_US
#define BATCH_SLICE_US 20000
#endif
#ifndef PREEMPT
#define PREEMPT 1
#endif

#define LATENCY_DSQ 0
#define SHARED_DSQ 1

/* cgroup id -> enum schedcp_class, written by the node agent; schedcp_class_of(). */
SCHEDCP_CGROUP_CLASSES

/* What each CPU runs now, so a waking latency task knows whether preempting pays off. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u32);
} running_class SEC(".maps");

static u64 slice_of(u32 class)
{
	return (class == SCHEDCP_CLASS_LATENCY ? LATENCY_SLICE_US : BATCH_SLICE_US) * SCHEDCP_USEC;
}

s32 SCHEDCP_OPS(latency_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool idle = false;
	s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &idle);

	if (idle)
		schedcp_insert(p, SCX_DSQ_LOCAL, slice_of(schedcp_class_of(p)), 0);
	return cpu;
}

static void preempt_for(struct task_struct *p)
{
	s32 cpu = scx_bpf_task_cpu(p);
	u32 zero = 0, *current_class;

	current_class = bpf_map_lookup_percpu_elem(&running_class, &zero, cpu);
	if (current_class && *current_class != SCHEDCP_CLASS_LATENCY) {
		schedcp_count(SCHEDCP_STAT_PREEMPT);
		scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
	}
}

void SCHEDCP_OPS(latency_enqueue, struct task_struct *p, u64 enq_flags)
{
	u32 class = schedcp_class_of(p);

	if (class != SCHEDCP_CLASS_LATENCY) {
		schedcp_insert(p, SHARED_DSQ, slice_of(class), enq_flags);
		return;
	}
	schedcp_insert(p, LATENCY_DSQ, slice_of(class), enq_flags);
	if (PREEMPT && (enq_flags & SCX_ENQ_WAKEUP))
		preempt_for(p);
}

void SCHEDCP_OPS(latency_dispatch, s32 cpu, struct task_struct *prev)
{
	if (!schedcp_move_to_local(LATENCY_DSQ))
		schedcp_move_to_local(SHARED_DSQ);
}

void SCHEDCP_OPS(latency_running, struct task_struct *p)
{
	u32 zero = 0, *slot = bpf_map_lookup_elem(&running_class, &zero);

	if (slot)
		*slot = schedcp_class_of(p);
}

s32 SCHEDCP_OPS_SLEEPABLE(latency_init)
{
	s32 err = scx_bpf_create_dsq(LATENCY_DSQ, -1);

	return err ? err : scx_bpf_create_dsq(SHARED_DSQ, -1);
}

SCHEDCP_EXIT(latency_exit)

SEC(".struct_ops.link")
struct sched_ext_ops latency_class_ops = {
	.select_cpu = (void *)latency_select_cpu,
	.enqueue = (void *)latency_enqueue,
	.dispatch = (void *)latency_dispatch,
	.running = (void *)latency_running,
	.init = (void *)latency_init,
	.exit = (void *)latency_exit,
	.name = "schedcp_latency",
};
