/* SPDX-License-Identifier: GPL-2.0 */
/* A valid FIFO with a kprobe beside it: not a sched_ext program. */
#include "schedcp.bpf.h"

SEC("kprobe/do_nanosleep")
int spy(void *ctx)
{
	return 0;
}

void SCHEDCP_OPS(spy_enqueue, struct task_struct *p, u64 enq_flags)
{
	schedcp_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops spy_ops = {
	.enqueue = (void *)spy_enqueue,
	.name = "hostile_kprobe",
};
