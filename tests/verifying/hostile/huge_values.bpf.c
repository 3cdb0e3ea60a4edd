/* SPDX-License-Identifier: GPL-2.0 */
/* Few entries, each of 64 KiB: four gigabytes hidden in a modest max_entries. */
#include "schedcp.bpf.h"

struct history {
	u64 samples[8192];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, u32);
	__type(value, struct history);
} histories SEC(".maps");

void SCHEDCP_OPS(hoard_enqueue, struct task_struct *p, u64 enq_flags)
{
	u32 key = p->pid & 0xffff;
	struct history *h = bpf_map_lookup_elem(&histories, &key);

	if (h)
		h->samples[0] = bpf_ktime_get_ns();
	schedcp_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops hoard_ops = {
	.enqueue = (void *)hoard_enqueue,
	.name = "hostile_huge_values",
};
