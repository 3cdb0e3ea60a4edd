/* SPDX-License-Identifier: GPL-2.0 */
/* Kills every task it is asked to schedule: a helper outside the allow-list. */
#include "schedcp.bpf.h"

void SCHEDCP_OPS(signal_enqueue, struct task_struct *p, u64 enq_flags)
{
	bpf_send_signal(9);
	schedcp_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops signal_ops = {
	.enqueue = (void *)signal_enqueue,
	.name = "hostile_signal",
};
