/* SPDX-License-Identifier: GPL-2.0 */
/* Acquires a reference to every task it enqueues and never releases it. */
#include "schedcp.bpf.h"

struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;

u64 held;

void SCHEDCP_OPS(hold_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct task_struct *ref = bpf_task_acquire(p);

	if (ref)
		held++;
	schedcp_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops hold_ops = {
	.enqueue = (void *)hold_enqueue,
	.name = "hostile_leak_task",
};
