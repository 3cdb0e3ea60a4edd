/* SPDX-License-Identifier: GPL-2.0 */
/* Calls bpf_send_signal by number from inline assembly: no helper name in the source. */
#include "schedcp.bpf.h"

void SCHEDCP_OPS(asm_enqueue, struct task_struct *p, u64 enq_flags)
{
	asm volatile("r1 = 9; call 109" ::: "r0", "r1", "r2", "r3", "r4", "r5");
	schedcp_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops asm_ops = {
	.enqueue = (void *)asm_enqueue,
	.name = "hostile_inline_asm",
};
