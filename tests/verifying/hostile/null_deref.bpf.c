/* SPDX-License-Identifier: GPL-2.0 */
/* Uses a map lookup's result without checking it for NULL. */
#include "schedcp.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, s32);
	__type(value, u64);
} slices SEC(".maps");

void SCHEDCP_OPS(trust_enqueue, struct task_struct *p, u64 enq_flags)
{
	s32 pid = p->pid;
	u64 *slice = bpf_map_lookup_elem(&slices, &pid);

	schedcp_insert(p, SCX_DSQ_GLOBAL, *slice, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops trust_ops = {
	.enqueue = (void *)trust_enqueue,
	.name = "hostile_null_deref",
};
