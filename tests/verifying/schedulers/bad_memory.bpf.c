/* SPDX-License-Identifier: GPL-2.0 */
/* Dereferences a number as a pointer: the kernel verifier must refuse to load it. */
#include "schedcp.bpf.h"

void SCHEDCP_OPS(bad_enqueue, struct task_struct *p, u64 enq_flags)
{
	u64 *bogus = (u64 *)(enq_flags | 0x1000);

	schedcp_insert(p, SCX_DSQ_GLOBAL, *bogus, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops bad_ops = {
	.enqueue = (void *)bad_enqueue,
	.name = "schedcp_bad_memory",
};
