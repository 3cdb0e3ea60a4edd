/* A valid FIFO that declares a non-GPL license: sched_ext kfuncs are GPL-only. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym __weak;
void scx_bpf_dispatch(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym __weak;

SEC("struct_ops/closed_enqueue")
void BPF_PROG(closed_enqueue, struct task_struct *p, u64 enq_flags)
{
	if (scx_bpf_dsq_insert)
		scx_bpf_dsq_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
	else
		scx_bpf_dispatch(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops closed_ops = {
	.enqueue = (void *)closed_enqueue,
	.name = "hostile_non_gpl",
};

char _license[] SEC("license") = "Proprietary";
