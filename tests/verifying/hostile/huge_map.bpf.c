/* SPDX-License-Identifier: GPL-2.0 */
/* Asks for sixteen million map entries: kernel memory no scheduler needs. */
#include "schedcp.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 24);
	__type(key, u32);
	__type(value, u64);
} seen SEC(".maps");

void SCHEDCP_OPS(hoard_enqueue, struct task_struct *p, u64 enq_flags)
{
	u32 pid = p->pid;
	u64 now = bpf_ktime_get_ns();

	bpf_map_update_elem(&seen, &pid, &now, BPF_ANY);
	schedcp_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops hoard_ops = {
	.enqueue = (void *)hoard_enqueue,
	.name = "hostile_huge_map",
};
