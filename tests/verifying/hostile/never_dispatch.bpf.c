/* SPDX-License-Identifier: GPL-2.0 */
/* Queues every task where no CPU looks, and keeps the default watchdog timeout: a stall. */
#include "schedcp.bpf.h"

#define LIMBO_DSQ 7

void SCHEDCP_OPS(limbo_enqueue, struct task_struct *p, u64 enq_flags)
{
	schedcp_insert(p, LIMBO_DSQ, SCX_SLICE_DFL, enq_flags);
}

s32 SCHEDCP_OPS_SLEEPABLE(limbo_init)
{
	return scx_bpf_create_dsq(LIMBO_DSQ, -1);
}

SEC(".struct_ops.link")
struct sched_ext_ops limbo_ops = {
	.enqueue = (void *)limbo_enqueue,
	.init = (void *)limbo_init,
	.name = "hostile_never_dispatch",
};
