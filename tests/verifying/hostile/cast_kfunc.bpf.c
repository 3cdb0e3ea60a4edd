/* SPDX-License-Identifier: GPL-2.0 */
/* Reads through bpf_rdonly_cast, a kfunc that turns any address into a kernel type. */
#include "schedcp.bpf.h"

void *bpf_rdonly_cast(const void *obj, u32 btf_id) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} loot SEC(".maps");

void SCHEDCP_OPS(cast_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct task_struct *parent = bpf_rdonly_cast(p->real_parent, 0);
	u32 zero = 0;
	u64 *slot = bpf_map_lookup_elem(&loot, &zero);

	if (slot)
		*slot = parent->start_time;
	schedcp_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops cast_ops = {
	.enqueue = (void *)cast_enqueue,
	.name = "hostile_rdonly_cast",
};
