/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by every schedcp scheduler: kfunc declarations, a compatibility layer, exit info
 * and counters for user space, and the cgroup classes the node agent writes.
 *
 * Built the way the upstream sched_ext headers are: kfuncs that every sched_ext kernel
 * (6.12 and later) has are declared strongly, so a kernel without one fails at load with
 * its name; kfuncs that came or went later are declared __weak under their upstream names,
 * libbpf leaves a missing one NULL instead of failing the load, and a wrapper below picks
 * the kfunc the running kernel has (the verifier removes the dead branch). Each compat
 * entry says which kernel needed it and when it can go.
 *
 * What a scheduler may call at all is the verifier's allow-list
 * (schedcp/verifying/allowlist.py): helpers for maps, time, CPU ids, bounded loops and
 * locks; the sched_ext kfuncs; cpumask, task and cgroup acquire/release pairs.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* Present in every sched_ext kernel (6.12+). */
s32 scx_bpf_create_dsq(u64 dsq_id, s32 node) __ksym;
s32 scx_bpf_select_cpu_dfl(struct task_struct *p, s32 prev_cpu, u64 wake_flags, bool *is_idle) __ksym;
s32 scx_bpf_pick_idle_cpu(const struct cpumask *cpus_allowed, u64 flags) __ksym;
void scx_bpf_kick_cpu(s32 cpu, u64 flags) __ksym;
s32 scx_bpf_dsq_nr_queued(u64 dsq_id) __ksym;
struct cgroup *scx_bpf_task_cgroup(struct task_struct *p) __ksym;
s32 scx_bpf_task_cpu(const struct task_struct *p) __ksym;
void bpf_cgroup_release(struct cgroup *cgrp) __ksym;

#define SCHEDCP_KFUNC __ksym __weak

/*
 * 6.13 renamed the dispatch kfuncs (scx_bpf_dispatch* -> scx_bpf_dsq_insert*,
 * scx_bpf_consume -> scx_bpf_dsq_move_to_local) and later kernels drop the old names.
 * The 6.12 names are the fallback; they can go when no node runs a kernel older than 6.13.
 */
void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) SCHEDCP_KFUNC;
void scx_bpf_dsq_insert_vtime(struct task_struct *p, u64 dsq_id, u64 slice, u64 vtime, u64 enq_flags) SCHEDCP_KFUNC;
bool scx_bpf_dsq_move_to_local(u64 dsq_id) SCHEDCP_KFUNC;
void scx_bpf_dispatch(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) SCHEDCP_KFUNC;
void scx_bpf_dispatch_vtime(struct task_struct *p, u64 dsq_id, u64 slice, u64 vtime, u64 enq_flags) SCHEDCP_KFUNC;
bool scx_bpf_consume(u64 dsq_id) SCHEDCP_KFUNC;

/* 6.14 added scx_bpf_now (rq-clock based); bpf_ktime_get_ns is the fallback until 6.14 is the oldest. */
u64 scx_bpf_now(void) SCHEDCP_KFUNC;

/*
 * 7.x wants a task's slice and vtime set through these kfuncs instead of field writes;
 * the field writes are the fallback for kernels without them, and can go when every
 * node's kernel has the kfuncs.
 */
void scx_bpf_task_set_slice(struct task_struct *p, u64 slice) SCHEDCP_KFUNC;
void scx_bpf_task_set_dsq_vtime(struct task_struct *p, u64 vtime) SCHEDCP_KFUNC;

/*
 * Per-CPU counters every scheduler keeps (the wrappers below count for it), summed by user
 * space: `bpftool map dump name schedcp_stats`.
 */
enum schedcp_stat {
	SCHEDCP_STAT_QUEUED,	/* tasks inserted into a queue other than a CPU's local one */
	SCHEDCP_STAT_DIRECT,	/* tasks inserted straight into a CPU's local queue */
	SCHEDCP_STAT_MOVED,	/* tasks moved from a shared queue to a local one */
	SCHEDCP_STAT_PREEMPT,	/* CPUs kicked to preempt (counted by the scheduler) */
	SCHEDCP_NR_STATS,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCHEDCP_NR_STATS);
	__type(key, u32);
	__type(value, u64);
} schedcp_stats SEC(".maps");

static __always_inline void schedcp_count(enum schedcp_stat stat)
{
	u32 key = stat;
	u64 *slot = bpf_map_lookup_elem(&schedcp_stats, &key);

	if (slot)
		(*slot)++;
}

/* True when the running kernel has the kfunc `sym` (weak ksyms resolve to NULL). */
#define schedcp_has(sym) (!!(sym))

static __always_inline void schedcp_insert(struct task_struct *p, u64 dsq, u64 slice, u64 flags)
{
	schedcp_count(dsq == SCX_DSQ_LOCAL ? SCHEDCP_STAT_DIRECT : SCHEDCP_STAT_QUEUED);
	if (schedcp_has(scx_bpf_dsq_insert))
		scx_bpf_dsq_insert(p, dsq, slice, flags);
	else
		scx_bpf_dispatch(p, dsq, slice, flags);
}

static __always_inline void schedcp_insert_vtime(struct task_struct *p, u64 dsq, u64 slice, u64 vtime, u64 flags)
{
	schedcp_count(SCHEDCP_STAT_QUEUED);
	if (schedcp_has(scx_bpf_dsq_insert_vtime))
		scx_bpf_dsq_insert_vtime(p, dsq, slice, vtime, flags);
	else
		scx_bpf_dispatch_vtime(p, dsq, slice, vtime, flags);
}

static __always_inline bool schedcp_move_to_local(u64 dsq)
{
	bool moved = schedcp_has(scx_bpf_dsq_move_to_local) ? scx_bpf_dsq_move_to_local(dsq) : scx_bpf_consume(dsq);

	if (moved)
		schedcp_count(SCHEDCP_STAT_MOVED);
	return moved;
}

static __always_inline void schedcp_set_slice(struct task_struct *p, u64 slice)
{
	if (schedcp_has(scx_bpf_task_set_slice))
		scx_bpf_task_set_slice(p, slice);
	else
		p->scx.slice = slice;
}

static __always_inline void schedcp_set_vtime(struct task_struct *p, u64 vtime)
{
	if (schedcp_has(scx_bpf_task_set_dsq_vtime))
		scx_bpf_task_set_dsq_vtime(p, vtime);
	else
		p->scx.dsq_vtime = vtime;
}

static __always_inline u64 schedcp_now(void)
{
	return schedcp_has(scx_bpf_now) ? scx_bpf_now() : bpf_ktime_get_ns();
}

/* A sched_ext callback; the sleepable form is for ops that may allocate (init, init_task). */
#define SCHEDCP_OPS(name, args...) SEC("struct_ops/" #name) BPF_PROG(name, ##args)
#define SCHEDCP_OPS_SLEEPABLE(name, args...) SEC("struct_ops.s/" #name) BPF_PROG(name, ##args)

/* Tunables arrive as -D defines from the template's metadata; these are their units. */
#define SCHEDCP_USEC 1000ULL

/* Wraparound-safe "a is before b" for monotonically growing 64-bit clocks. */
static __always_inline bool schedcp_before(u64 a, u64 b)
{
	return (s64)(a - b) < 0;
}

/*
 * Why the scheduler stopped, for user space (the node agent reads the object's .bss):
 * the kind (enum scx_exit_kind: unregistered, sysrq, error, stall...) and exit code the
 * kernel passed to .exit, and when. The kernel's reason and message strings stay in its
 * log: copying them would take a probe-read helper, which the allow-list refuses.
 */
struct schedcp_exit_info {
	s32 kind;
	s64 exit_code;
	u64 at_ns;
};
struct schedcp_exit_info schedcp_exit;

/* Defines the .exit callback `name` that records exit info; point `.exit` at it. */
#define SCHEDCP_EXIT(name)								\
	void SCHEDCP_OPS(name, struct scx_exit_info *ei)				\
	{										\
		schedcp_exit.kind = ei->kind;						\
		schedcp_exit.exit_code = ei->exit_code;					\
		schedcp_exit.at_ns = bpf_ktime_get_ns();				\
	}

/*
 * The classes the node agent writes into a scheduler's `cgroup_class` map, keyed by cgroup
 * id (the cgroup v2 inode number): one definition for the schedulers and the agent
 * (schedcp_node_agent/applier.py, whose values a test compares with these).
 */
enum schedcp_class {
	SCHEDCP_CLASS_THROUGHPUT = 0,	/* pods of class throughput, and unlisted ones: the default */
	SCHEDCP_CLASS_LATENCY = 1,	/* pods a policy protects */
	SCHEDCP_CLASS_BATCH = 2,	/* pods a policy may slow down */
};

/* Declares the `cgroup_class` map and schedcp_class_of(); a scheduler that uses classes says SCHEDCP_CGROUP_CLASSES. */
#define SCHEDCP_CGROUP_CLASSES								\
	struct {									\
		__uint(type, BPF_MAP_TYPE_HASH);					\
		__uint(max_entries, 4096);						\
		__type(key, u64);							\
		__type(value, u32);							\
	} cgroup_class SEC(".maps");							\
											\
	static __always_inline u32 schedcp_class_of(struct task_struct *p)		\
	{										\
		struct cgroup *cgrp = scx_bpf_task_cgroup(p);				\
		u32 *class;								\
		u64 id;									\
											\
		if (!cgrp)								\
			return SCHEDCP_CLASS_THROUGHPUT;					\
		id = cgrp->kn->id;							\
		bpf_cgroup_release(cgrp);						\
		class = bpf_map_lookup_elem(&cgroup_class, &id);			\
		return class ? *class : SCHEDCP_CLASS_THROUGHPUT;				\
	}

char _license[] SEC("license") = "GPL";
