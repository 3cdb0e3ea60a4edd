/* SPDX-License-Identifier: GPL-2.0 */
/* Watches every context switch with a BTF tracepoint beside a valid FIFO. */
#include "schedcp.bpf.h"

u64 switches;

SEC("tp_btf/sched_switch")
int BPF_PROG(watch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__sync_fetch_and_add(&switches, 1);
	return 0;
}

void SCHEDCP_OPS(watch_enqueue, struct task_struct *p, u64 enq_flags)
{
	schedcp_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops watch_ops = {
	.enqueue = (void *)watch_enqueue,
	.name = "hostile_tracing",
};
