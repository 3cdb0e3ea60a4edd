/* SPDX-License-Identifier: GPL-2.0 */
/*
 * schedcp_fifo: one global first-in-first-out queue.
 *
 * Algorithm: a waking task goes straight to an idle CPU when the kernel's default idle
 * selection finds one; otherwise it joins the global queue, from which every CPU takes
 * the oldest task and runs it for one fixed slice.
 *
 * Good at: throughput of uniform CPU-bound work (no bookkeeping, few preemptions), and
 * as the simplest baseline a generated scheduler must beat.
 * Bad at: mixed loads: a latency-sensitive task waits behind every long-running task
 * queued before it, and weights (nice values) are ignored.
 *
 * Tunables (-D at build time):
 *   SLICE_US  time slice in microseconds.
 */
#include "schedcp.bpf.h"

#ifndef SLICE_US
#define SLICE_US 5000
#endif

s32 SCHEDCP_OPS(fifo_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool idle = false;
	s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &idle);

	/* An idle CPU needs no queueing decision: dispatching locally skips ops.enqueue. */
	if (idle)
		schedcp_insert(p, SCX_DSQ_LOCAL, SLICE_US * SCHEDCP_USEC, 0);
	return cpu;
}

void SCHEDCP_OPS(fifo_enqueue, struct task_struct *p, u64 enq_flags)
{
	schedcp_insert(p, SCX_DSQ_GLOBAL, SLICE_US * SCHEDCP_USEC, enq_flags);
}

SCHEDCP_EXIT(fifo_exit)

SEC(".struct_ops.link")
struct sched_ext_ops fifo_ops = {
	.select_cpu = (void *)fifo_select_cpu,
	.enqueue = (void *)fifo_enqueue,
	.exit = (void *)fifo_exit,
	.name = "schedcp_fifo",
};
