/* SPDX-License-Identifier: GPL-2.0 */
/* Reads kernel memory behind the verifier's back: probe_read of an arbitrary address. */
#include "schedcp.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} loot SEC(".maps");

void SCHEDCP_OPS(peek_enqueue, struct task_struct *p, u64 enq_flags)
{
	u32 zero = 0;
	u64 *slot = bpf_map_lookup_elem(&loot, &zero);

	if (slot)
		bpf_probe_read_kernel(slot, sizeof(*slot), (void *)p->mm);
	schedcp_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops peek_ops = {
	.enqueue = (void *)peek_enqueue,
	.name = "hostile_probe_read",
};
