/* SPDX-License-Identifier: GPL-2.0 */
/*
 * schedcp_interactive: tasks that sleep and wake often run first.
 *
 * Algorithm: a weighted virtual clock as in schedcp_vtime, but tasks are ordered by a
 * deadline: their virtual time plus their average CPU burst. A task that wakes more
 * often than WAKE_HZ times a second (an editor, a request handler, a pipe stage) counts
 * as interactive and has its burst divided by 2^BOOST_SHIFT, so it overtakes CPU hogs
 * whose bursts are long. Nothing needs labels: the behaviour is learned per task.
 *
 * Good at: desktop-like and request/response loads, pipelines of short hops.
 * Bad at: workloads whose latency-critical threads also burn CPU continuously (they
 * never look interactive) and pure batch throughput (more preemption than needed).
 *
 * Tunables (-D at build time):
 *   SLICE_US     time slice in microseconds.
 *   WAKE_HZ      wakeups per second above which a task counts as interactive.
 *   BOOST_SHIFT  how strongly an interactive task's burst is discounted (power of two).
 */
#include "schedcp.bpf.h"

#ifndef SLICE_US
#define SLICE_US 5000
#endif
#ifndef WAKE_HZ
#define WAKE_HZ 50
#endif
#ifndef BOOST_SHIFT
#define BOOST_SHIFT 3
#endif

#define SHARED_DSQ 0
#define SLICE_NS (SLICE_US * SCHEDCP_USEC)
#define NSEC_PER_SEC 1000000000ULL

struct task_ctx {
	u64 last_wake;     /* when the task last became runnable */
	u64 wake_gap_avg;  /* moving average of the time between wakeups */
	u64 started;       /* when the current burst began */
	u64 burst_avg;     /* moving average of CPU bursts */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctxs SEC(".maps");

static u64 vtime_now;

/* Moving average with weight 1/4 for the new sample: reacts within a few events. */
static __always_inline u64 smooth(u64 avg, u64 sample)
{
	return avg ? (avg * 3 + sample) / 4 : sample;
}

static struct task_ctx *ctx_of(struct task_struct *p)
{
	return bpf_task_storage_get(&task_ctxs, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
}

s32 SCHEDCP_OPS(interactive_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool idle = false;
	s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &idle);

	if (idle)
		schedcp_insert(p, SCX_DSQ_LOCAL, SLICE_NS, 0);
	return cpu;
}

void SCHEDCP_OPS(interactive_runnable, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = ctx_of(p);
	u64 now = schedcp_now();

	if (!tctx)
		return;
	if (tctx->last_wake)
		tctx->wake_gap_avg = smooth(tctx->wake_gap_avg, now - tctx->last_wake);
	tctx->last_wake = now;
}

void SCHEDCP_OPS(interactive_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = ctx_of(p);
	u64 vtime = p->scx.dsq_vtime, floor = vtime_now - SLICE_NS, burst = SLICE_NS;

	if (schedcp_before(vtime, floor))
		vtime = floor;
	if (tctx) {
		burst = tctx->burst_avg;
		if (tctx->wake_gap_avg && tctx->wake_gap_avg < NSEC_PER_SEC / WAKE_HZ)
			burst >>= BOOST_SHIFT;
	}
	schedcp_insert_vtime(p, SHARED_DSQ, SLICE_NS, vtime + burst, enq_flags);
}

void SCHEDCP_OPS(interactive_dispatch, s32 cpu, struct task_struct *prev)
{
	schedcp_move_to_local(SHARED_DSQ);
}

void SCHEDCP_OPS(interactive_running, struct task_struct *p)
{
	struct task_ctx *tctx = ctx_of(p);

	if (tctx)
		tctx->started = schedcp_now();
	if (schedcp_before(vtime_now, p->scx.dsq_vtime))
		vtime_now = p->scx.dsq_vtime;
}

void SCHEDCP_OPS(interactive_stopping, struct task_struct *p, bool runnable)
{
	struct task_ctx *tctx = ctx_of(p);
	u64 used = SLICE_NS - p->scx.slice;

	if (tctx && tctx->started)
		tctx->burst_avg = smooth(tctx->burst_avg, schedcp_now() - tctx->started);
	schedcp_set_vtime(p, p->scx.dsq_vtime + used * 100 / p->scx.weight);
}

void SCHEDCP_OPS(interactive_enable, struct task_struct *p)
{
	schedcp_set_vtime(p, vtime_now);
}

s32 SCHEDCP_OPS_SLEEPABLE(interactive_init)
{
	return scx_bpf_create_dsq(SHARED_DSQ, -1);
}

SCHEDCP_EXIT(interactive_exit)

SEC(".struct_ops.link")
struct sched_ext_ops interactive_ops = {
	.select_cpu = (void *)interactive_select_cpu,
	.runnable = (void *)interactive_runnable,
	.enqueue = (void *)interactive_enqueue,
	.dispatch = (void *)interactive_dispatch,
	.running = (void *)interactive_running,
	.stopping = (void *)interactive_stopping,
	.enable = (void *)interactive_enable,
	.init = (void *)interactive_init,
	.exit = (void *)interactive_exit,
	.name = "schedcp_interactive",
};
