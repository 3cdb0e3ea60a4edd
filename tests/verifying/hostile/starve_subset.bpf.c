/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Serves every task except one program's (the verifier's cpu_batch workload): those wait
 * in a queue no CPU drains, while the rest of the system runs normally.
 */
#include "schedcp.bpf.h"

#define SERVED_DSQ 1
#define STARVED_DSQ 2

static bool starved(struct task_struct *p)
{
	return p->comm[0] == 'c' && p->comm[1] == 'p' && p->comm[2] == 'u' && p->comm[3] == '_';
}

void SCHEDCP_OPS(unfair_enqueue, struct task_struct *p, u64 enq_flags)
{
	schedcp_insert(p, starved(p) ? STARVED_DSQ : SERVED_DSQ, SCX_SLICE_DFL, enq_flags);
}

void SCHEDCP_OPS(unfair_dispatch, s32 cpu, struct task_struct *prev)
{
	schedcp_move_to_local(SERVED_DSQ);
}

s32 SCHEDCP_OPS_SLEEPABLE(unfair_init)
{
	s32 err = scx_bpf_create_dsq(SERVED_DSQ, -1);

	return err ? err : scx_bpf_create_dsq(STARVED_DSQ, -1);
}

SEC(".struct_ops.link")
struct sched_ext_ops unfair_ops = {
	.enqueue = (void *)unfair_enqueue,
	.dispatch = (void *)unfair_dispatch,
	.init = (void *)unfair_init,
	.name = "hostile_starve_subset",
};
