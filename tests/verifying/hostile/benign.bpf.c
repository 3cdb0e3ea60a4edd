/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The control: a FIFO that uses what the allow-list admits (per-task storage, per-CPU
 * counters, a bpf_loop, a cpumask acquired and released, task references paired) and
 * must pass every stage.
 */
#include "schedcp.bpf.h"

struct bpf_cpumask *bpf_cpumask_create(void) __ksym;
void bpf_cpumask_release(struct bpf_cpumask *cpumask) __ksym;
void bpf_cpumask_set_cpu(u32 cpu, struct bpf_cpumask *cpumask) __ksym;
struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
void bpf_task_release(struct task_struct *p) __ksym;

struct task_ctx {
	u64 enqueued;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctxs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, u64);
} counters SEC(".maps");

static long add_one(u32 index, void *ctx)
{
	*(u64 *)ctx += 1;
	return 0;
}

static void count(u32 which)
{
	u64 *slot = bpf_map_lookup_elem(&counters, &which);
	u64 step = 0;

	bpf_loop(2, add_one, &step, 0);
	if (slot)
		*slot += step / 2;
}

s32 SCHEDCP_OPS(benign_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	struct bpf_cpumask *mask = bpf_cpumask_create();
	bool idle = false;
	s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &idle);

	if (mask) {
		bpf_cpumask_set_cpu(0, mask);
		bpf_cpumask_release(mask);
	}
	if (idle) {
		count(0);
		schedcp_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
	}
	return cpu;
}

void SCHEDCP_OPS(benign_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);
	struct task_struct *ref = bpf_task_acquire(p);

	if (ref)
		bpf_task_release(ref);
	if (tctx)
		tctx->enqueued++;
	count(1);
	schedcp_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

s32 SCHEDCP_OPS_SLEEPABLE(benign_init_task, struct task_struct *p, struct scx_init_task_args *args)
{
	return bpf_task_storage_get(&task_ctxs, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE) ? 0 : -12;
}

SEC(".struct_ops.link")
struct sched_ext_ops benign_ops = {
	.select_cpu = (void *)benign_select_cpu,
	.enqueue = (void *)benign_enqueue,
	.init_task = (void *)benign_init_task,
	.name = "hostile_benign",
};
