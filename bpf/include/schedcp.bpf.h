/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by every schedcp scheduler: kfunc declarations and a compatibility layer.
 *
 * Kernels from 6.12 to 7.x renamed the dispatch kfuncs (scx_bpf_dispatch* became
 * scx_bpf_dsq_insert*, scx_bpf_consume became scx_bpf_dsq_move_to_local) and 7.x wants
 * the slice and vtime of a task set through kfuncs instead of field writes. Every kfunc is
 * declared __weak, so libbpf leaves a missing one NULL instead of failing the load, and
 * the wrappers below test for it at run time; the verifier removes the dead branch.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define SCHEDCP_KFUNC __ksym __weak

s32 scx_bpf_create_dsq(u64 dsq_id, s32 node) SCHEDCP_KFUNC;
s32 scx_bpf_select_cpu_dfl(struct task_struct *p, s32 prev_cpu, u64 wake_flags, bool *is_idle) SCHEDCP_KFUNC;
s32 scx_bpf_pick_idle_cpu(const struct cpumask *cpus_allowed, u64 flags) SCHEDCP_KFUNC;
void scx_bpf_kick_cpu(s32 cpu, u64 flags) SCHEDCP_KFUNC;
s32 scx_bpf_dsq_nr_queued(u64 dsq_id) SCHEDCP_KFUNC;
struct cgroup *scx_bpf_task_cgroup(struct task_struct *p) SCHEDCP_KFUNC;
void bpf_cgroup_release(struct cgroup *cgrp) SCHEDCP_KFUNC;
u64 scx_bpf_now(void) SCHEDCP_KFUNC;
s32 scx_bpf_task_cpu(const struct task_struct *p) SCHEDCP_KFUNC;

/* 6.13+ names */
void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) SCHEDCP_KFUNC;
void scx_bpf_dsq_insert_vtime(struct task_struct *p, u64 dsq_id, u64 slice, u64 vtime, u64 enq_flags) SCHEDCP_KFUNC;
bool scx_bpf_dsq_move_to_local(u64 dsq_id) SCHEDCP_KFUNC;
void scx_bpf_task_set_slice(struct task_struct *p, u64 slice) SCHEDCP_KFUNC;
void scx_bpf_task_set_dsq_vtime(struct task_struct *p, u64 vtime) SCHEDCP_KFUNC;

/* 6.12 names */
void scx_bpf_dispatch(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) SCHEDCP_KFUNC;
void scx_bpf_dispatch_vtime(struct task_struct *p, u64 dsq_id, u64 slice, u64 vtime, u64 enq_flags) SCHEDCP_KFUNC;
bool scx_bpf_consume(u64 dsq_id) SCHEDCP_KFUNC;

/* True when the running kernel has the kfunc `sym` (weak ksyms resolve to NULL). */
#define schedcp_has(sym) (!!(sym))

static __always_inline void schedcp_insert(struct task_struct *p, u64 dsq, u64 slice, u64 flags)
{
	if (schedcp_has(scx_bpf_dsq_insert))
		scx_bpf_dsq_insert(p, dsq, slice, flags);
	else
		scx_bpf_dispatch(p, dsq, slice, flags);
}

static __always_inline void schedcp_insert_vtime(struct task_struct *p, u64 dsq, u64 slice, u64 vtime, u64 flags)
{
	if (schedcp_has(scx_bpf_dsq_insert_vtime))
		scx_bpf_dsq_insert_vtime(p, dsq, slice, vtime, flags);
	else
		scx_bpf_dispatch_vtime(p, dsq, slice, vtime, flags);
}

static __always_inline bool schedcp_move_to_local(u64 dsq)
{
	if (schedcp_has(scx_bpf_dsq_move_to_local))
		return scx_bpf_dsq_move_to_local(dsq);
	return scx_bpf_consume(dsq);
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

char _license[] SEC("license") = "GPL";
