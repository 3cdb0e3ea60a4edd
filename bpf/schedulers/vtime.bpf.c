/* SPDX-License-Identifier: GPL-2.0 */
/*
 * schedcp_vtime: weighted fair sharing by virtual time.
 *
 * Algorithm: every task carries a virtual clock that advances by the CPU time it used,
 * scaled down by its weight (nice value), and all runnable tasks wait in one queue
 * ordered by that clock. The task that has received least service relative to its
 * weight runs next. A task that slept keeps its place but may not bank more than
 * IDLE_CREDIT_SLICES slices of credit, so a long sleeper cannot monopolise the CPUs
 * when it wakes.
 *
 * Good at: general-purpose fairness across tenants with nice values, mixed loads
 * where no class of pods is known to matter more.
 * Bad at: strict latency targets (a waking task still waits up to a slice) and
 * makespan of jobs with very unequal lengths (fairness delays the long ones).
 *
 * Tunables (-D at build time):
 *   SLICE_US            time slice in microseconds.
 *   IDLE_CREDIT_SLICES  how many slices of credit a sleeping task may bank.
 */
#include "schedcp.bpf.h"

#ifndef SLICE_US
#define SLICE_US 5000
#endif
#ifndef IDLE_CREDIT_SLICES
#define IDLE_CREDIT_SLICES 1
#endif

#define FAIR_DSQ 0
#define SLICE_NS (SLICE_US * SCHEDCP_USEC)

/* The smallest virtual time among running tasks, approximately: it only moves forward. */
static u64 vtime_now;

s32 SCHEDCP_OPS(vtime_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool idle = false;
	s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &idle);

	if (idle)
		schedcp_insert(p, SCX_DSQ_LOCAL, SLICE_NS, 0);
	return cpu;
}

void SCHEDCP_OPS(vtime_enqueue, struct task_struct *p, u64 enq_flags)
{
	u64 vtime = p->scx.dsq_vtime;
	u64 floor = vtime_now - IDLE_CREDIT_SLICES * SLICE_NS;

	if (schedcp_before(vtime, floor))
		vtime = floor;
	schedcp_insert_vtime(p, FAIR_DSQ, SLICE_NS, vtime, enq_flags);
}

void SCHEDCP_OPS(vtime_dispatch, s32 cpu, struct task_struct *prev)
{
	schedcp_move_to_local(FAIR_DSQ);
}

void SCHEDCP_OPS(vtime_running, struct task_struct *p)
{
	/* Racy across CPUs, which is fine: it is a floor for idle credit, not an invariant. */
	if (schedcp_before(vtime_now, p->scx.dsq_vtime))
		vtime_now = p->scx.dsq_vtime;
}

void SCHEDCP_OPS(vtime_stopping, struct task_struct *p, bool runnable)
{
	/* The unused part of the slice is not charged; weight 100 is nice 0. */
	u64 used = SLICE_NS - p->scx.slice;

	schedcp_set_vtime(p, p->scx.dsq_vtime + used * 100 / p->scx.weight);
}

void SCHEDCP_OPS(vtime_enable, struct task_struct *p)
{
	schedcp_set_vtime(p, vtime_now);
}

s32 SCHEDCP_OPS_SLEEPABLE(vtime_init)
{
	return scx_bpf_create_dsq(FAIR_DSQ, -1);
}

SCHEDCP_EXIT(vtime_exit)

SEC(".struct_ops.link")
struct sched_ext_ops vtime_ops = {
	.select_cpu = (void *)vtime_select_cpu,
	.enqueue = (void *)vtime_enqueue,
	.dispatch = (void *)vtime_dispatch,
	.running = (void *)vtime_running,
	.stopping = (void *)vtime_stopping,
	.enable = (void *)vtime_enable,
	.init = (void *)vtime_init,
	.exit = (void *)vtime_exit,
	.name = "schedcp_vtime",
};
