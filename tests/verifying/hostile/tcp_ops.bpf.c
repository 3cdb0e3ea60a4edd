/* SPDX-License-Identifier: GPL-2.0 */
/* Registers a TCP congestion control beside its scheduler: struct_ops, but not sched_ext. */
#include "schedcp.bpf.h"

void SCHEDCP_OPS(fifo_enqueue, struct task_struct *p, u64 enq_flags)
{
	schedcp_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

SEC("struct_ops/cc_ssthresh")
u32 BPF_PROG(cc_ssthresh, struct sock *sk)
{
	return 2;
}

SEC("struct_ops/cc_undo_cwnd")
u32 BPF_PROG(cc_undo_cwnd, struct sock *sk)
{
	return 2;
}

SEC("struct_ops/cc_cong_avoid")
void BPF_PROG(cc_cong_avoid, struct sock *sk, u32 ack, u32 acked)
{
}

SEC(".struct_ops.link")
struct tcp_congestion_ops slow_cc = {
	.ssthresh = (void *)cc_ssthresh,
	.undo_cwnd = (void *)cc_undo_cwnd,
	.cong_avoid = (void *)cc_cong_avoid,
	.name = "hostile_cc",
};

SEC(".struct_ops.link")
struct sched_ext_ops fifo_ops = {
	.enqueue = (void *)fifo_enqueue,
	.name = "hostile_tcp_ops",
};
