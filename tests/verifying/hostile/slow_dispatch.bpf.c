/* SPDX-License-Identifier: GPL-2.0 */
/* Burns millions of iterations in every dispatch before serving the queue. */
#include "schedcp.bpf.h"

static long burn(u32 index, void *ctx)
{
	*(u64 *)ctx += index;
	return 0;
}

u64 burned;

void SCHEDCP_OPS(slow_enqueue, struct task_struct *p, u64 enq_flags)
{
	schedcp_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

void SCHEDCP_OPS(slow_dispatch, s32 cpu, struct task_struct *prev)
{
	u64 sum = 0;

	bpf_loop(1 << 23, burn, &sum, 0);
	burned += sum;
}

SEC(".struct_ops.link")
struct sched_ext_ops slow_ops = {
	.enqueue = (void *)slow_enqueue,
	.dispatch = (void *)slow_dispatch,
	.name = "hostile_slow_dispatch",
};
