/* SPDX-License-Identifier: GPL-2.0 */
/* Logs every enqueue to the kernel's trace buffer. */
#include "schedcp.bpf.h"

void SCHEDCP_OPS(chatty_enqueue, struct task_struct *p, u64 enq_flags)
{
	bpf_printk("enqueue %d", p->pid);
	schedcp_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops chatty_ops = {
	.enqueue = (void *)chatty_enqueue,
	.name = "hostile_printk",
};
