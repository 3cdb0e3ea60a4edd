/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Emits a kfunc call as raw bytes (src_reg 2, a guessed BTF id): no extern, no relocation,
 * and a disassembler shows it as an ordinary `call 4660`.
 */
#include "schedcp.bpf.h"

void SCHEDCP_OPS(raw_enqueue, struct task_struct *p, u64 enq_flags)
{
	asm volatile(".byte 0x85, 0x20, 0, 0, 0x34, 0x12, 0, 0" ::: "r0", "r1", "r2", "r3", "r4", "r5");
	schedcp_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops raw_ops = {
	.enqueue = (void *)raw_enqueue,
	.name = "hostile_hand_encoded",
};
