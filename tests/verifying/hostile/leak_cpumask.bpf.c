/* SPDX-License-Identifier: GPL-2.0 */
/* Creates a cpumask on every wakeup and forgets it on the path where no CPU is idle. */
#include "schedcp.bpf.h"

struct bpf_cpumask *bpf_cpumask_create(void) __ksym;
void bpf_cpumask_release(struct bpf_cpumask *cpumask) __ksym;
bool bpf_cpumask_test_cpu(u32 cpu, const struct cpumask *cpumask) __ksym;

s32 SCHEDCP_OPS(mask_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	struct bpf_cpumask *mask = bpf_cpumask_create();
	bool idle = false;
	s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &idle);

	if (!mask)
		return cpu;
	if (!idle)
		return cpu;
	bpf_cpumask_release(mask);
	schedcp_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
	return cpu;
}

void SCHEDCP_OPS(mask_enqueue, struct task_struct *p, u64 enq_flags)
{
	schedcp_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops mask_ops = {
	.select_cpu = (void *)mask_select_cpu,
	.enqueue = (void *)mask_enqueue,
	.name = "hostile_leak_cpumask",
};
