/* SPDX-License-Identifier: GPL-2.0 */
/* Reads a kernel variable (init_task) directly through a __ksym extern. */
#include "schedcp.bpf.h"

extern struct task_struct init_task __ksym;

void SCHEDCP_OPS(peek_enqueue, struct task_struct *p, u64 enq_flags)
{
	u64 slice = init_task.pid ? SCX_SLICE_DFL / 2 : SCX_SLICE_DFL;

	schedcp_insert(p, SCX_DSQ_GLOBAL, slice, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops peek_ops = {
	.enqueue = (void *)peek_enqueue,
	.name = "hostile_kernel_var",
};
