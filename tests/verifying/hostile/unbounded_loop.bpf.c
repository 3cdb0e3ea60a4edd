/* SPDX-License-Identifier: GPL-2.0 */
/* Loops as many times as a map says: nothing bounds it, so the verifier cannot prove it ends. */
#include "schedcp.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} rounds SEC(".maps");

void SCHEDCP_OPS(spin_enqueue, struct task_struct *p, u64 enq_flags)
{
	u32 zero = 0;
	u64 *n = bpf_map_lookup_elem(&rounds, &zero), i, slice = 0;

	if (n)
		for (i = 0; i < *n; i++)
			slice += i & 0xff;
	schedcp_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL + slice, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops spin_ops = {
	.enqueue = (void *)spin_enqueue,
	.name = "hostile_unbounded_loop",
};
