/* SPDX-License-Identifier: GPL-2.0 */
/* Streams every task's pid out through a ring buffer. */
#include "schedcp.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

void SCHEDCP_OPS(leak_enqueue, struct task_struct *p, u64 enq_flags)
{
	s32 pid = p->pid;

	bpf_ringbuf_output(&events, &pid, sizeof(pid), 0);
	schedcp_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops leak_ops = {
	.enqueue = (void *)leak_enqueue,
	.name = "hostile_ringbuf",
};
