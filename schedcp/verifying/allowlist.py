"""What a scheduler may use: the one place where the static stage's policy is written.

A scheduler is written by an LLM from text that users and pods control, so the static stage
admits only what a CPU scheduler needs and refuses everything else, naming it and saying
why. Each entry below carries its reason; `REFUSED_*` give the reason for things a
scheduler is known to be tempted by, everything unlisted gets the generic one.
"""

from __future__ import annotations

import re

# -- helpers (called by number; names from the kernel's enum bpf_func_id) -----------------

HELPERS = {
    "bpf_map_lookup_elem": "map operations: the scheduler's own state",
    "bpf_map_update_elem": "map operations: the scheduler's own state",
    "bpf_map_delete_elem": "map operations: the scheduler's own state",
    "bpf_map_push_elem": "queue and stack maps",
    "bpf_map_pop_elem": "queue and stack maps",
    "bpf_map_peek_elem": "queue and stack maps",
    "bpf_map_lookup_percpu_elem": "another CPU's slot of a per-CPU map",
    "bpf_for_each_map_elem": "bounded iteration over a map",
    "bpf_ktime_get_ns": "time: slices, deadlines, virtual time",
    "bpf_ktime_get_boot_ns": "time",
    "bpf_ktime_get_coarse_ns": "time",
    "bpf_jiffies64": "time",
    "bpf_get_prandom_u32": "randomised choices (e.g. power-of-two-choices CPU selection)",
    "bpf_get_smp_processor_id": "the CPU it runs on",
    "bpf_get_numa_node_id": "the NUMA node it runs on",
    "bpf_get_current_task_btf": "the current task as a typed pointer the verifier tracks",
    "bpf_loop": "bounded loops the verifier can prove finite",
    "bpf_spin_lock": "spin locks around shared map values",
    "bpf_spin_unlock": "spin locks around shared map values",
    "bpf_task_storage_get": "per-task state",
    "bpf_task_storage_delete": "per-task state",
    "bpf_cgrp_storage_get": "per-cgroup state",
    "bpf_cgrp_storage_delete": "per-cgroup state",
    "bpf_kptr_xchg": "keeping an acquired object (e.g. a cpumask) in a map",
    "bpf_timer_init": "periodic work (load balancing) on a timer",
    "bpf_timer_set_callback": "periodic work (load balancing) on a timer",
    "bpf_timer_start": "periodic work (load balancing) on a timer",
    "bpf_timer_cancel": "periodic work (load balancing) on a timer",
    "bpf_strncmp": "comparing a task's name with a constant",
}

_PROBE_READ = "reads kernel or user memory outside the typed pointers the verifier tracks"
_OUTPUT = "sends data out of the scheduler; use per-scheduler counters in maps instead"
REFUSED_HELPERS = {
    "bpf_probe_read": _PROBE_READ,
    "bpf_probe_read_str": _PROBE_READ,
    "bpf_probe_read_kernel": _PROBE_READ,
    "bpf_probe_read_kernel_str": _PROBE_READ,
    "bpf_probe_read_user": _PROBE_READ,
    "bpf_probe_read_user_str": _PROBE_READ,
    "bpf_copy_from_user": _PROBE_READ,
    "bpf_copy_from_user_task": _PROBE_READ,
    "bpf_get_current_task": "returns the task as an untyped number, only useful with probe reads",
    "bpf_probe_write_user": "writes another process's memory",
    "bpf_send_signal": "signals a task: a scheduler decides when tasks run, it does not kill them",
    "bpf_send_signal_thread": "signals a task: a scheduler decides when tasks run, it does not kill them",
    "bpf_override_return": "changes what a kernel function returns",
    "bpf_sys_bpf": "issues bpf() system calls: loads or changes other BPF objects",
    "bpf_sys_close": "closes file descriptors",
    "bpf_trace_printk": _OUTPUT,
    "bpf_trace_vprintk": _OUTPUT,
    "bpf_perf_event_output": _OUTPUT,
    "bpf_ringbuf_output": _OUTPUT,
    "bpf_ringbuf_reserve": _OUTPUT,
    "bpf_ringbuf_submit": _OUTPUT,
    "bpf_ringbuf_discard": _OUTPUT,
    "bpf_tail_call": "jumps into another BPF program that the verifier of this one never saw",
    "bpf_get_stack": "reads kernel and user stacks",
    "bpf_get_stackid": "reads kernel and user stacks",
    "bpf_d_path": "reads file paths",
}
UNLISTED_HELPER = "a CPU scheduler does not need it (it is not on the allow-list)"

# -- kfuncs (extern calls resolved against the kernel's BTF) ------------------------------

# Every kfunc of sched_ext: it is the interface a scheduler is written against.
KFUNC_FAMILIES = {
    "scx_bpf_": "sched_ext",
    "bpf_iter_scx_dsq_": "sched_ext: iterating over a dispatch queue",
    "bpf_cpumask_": "cpumasks: choosing CPUs (acquire/release pairs the verifier checks)",
    "bpf_list_": "BPF linked lists of the scheduler's own objects",
    "bpf_rbtree_": "BPF red-black trees of the scheduler's own objects (ordered queues)",
    "bpf_iter_num_": "bounded numeric loops (bpf_for)",
}
KFUNCS = {
    "bpf_task_acquire": "holds a task reference; the verifier checks it is released",
    "bpf_task_release": "releases a task reference",
    "bpf_task_from_pid": "looks up a task (an acquired reference)",
    "bpf_cgroup_acquire": "holds a cgroup reference; the verifier checks it is released",
    "bpf_cgroup_release": "releases a cgroup reference",
    "bpf_cgroup_from_id": "looks up a cgroup by id (an acquired reference)",
    "bpf_cgroup_ancestor": "a cgroup's ancestor (an acquired reference)",
    "bpf_task_under_cgroup": "whether a task belongs to a cgroup",
    "bpf_rcu_read_lock": "RCU read-side sections around RCU-protected pointers",
    "bpf_rcu_read_unlock": "RCU read-side sections around RCU-protected pointers",
    "bpf_obj_new_impl": "allocating the scheduler's own objects (for lists and trees)",
    "bpf_obj_drop_impl": "freeing the scheduler's own objects",
    "bpf_refcount_acquire_impl": "sharing the scheduler's own objects",
}
REFUSED_KFUNCS = {
    "bpf_rdonly_cast": "casts any address to a kernel type: " + _PROBE_READ,
    "bpf_probe_read_kernel_dynptr": _PROBE_READ,
    "bpf_send_signal_task": REFUSED_HELPERS["bpf_send_signal"],
    "bpf_get_file_xattr": "reads file attributes",
}
UNLISTED_KFUNC = "a CPU scheduler does not need it (it is not on the allow-list)"
# An extern that is not a function is a kernel variable (`__ksym`) or a Kconfig value.
EXTERN_VARIABLE = "reads a kernel variable directly; a scheduler learns about the system through sched_ext kfuncs"

# -- maps (type and size from the object's BTF .maps) ------------------------------------

MAP_TYPES = {
    "BPF_MAP_TYPE_HASH": "keyed state (e.g. cgroup classes written by the node agent)",
    "BPF_MAP_TYPE_ARRAY": "indexed state",
    "BPF_MAP_TYPE_PERCPU_HASH": "per-CPU keyed state",
    "BPF_MAP_TYPE_PERCPU_ARRAY": "per-CPU state and counters",
    "BPF_MAP_TYPE_LRU_HASH": "keyed state with bounded memory",
    "BPF_MAP_TYPE_LRU_PERCPU_HASH": "per-CPU keyed state with bounded memory",
    "BPF_MAP_TYPE_QUEUE": "FIFO of values",
    "BPF_MAP_TYPE_STACK": "LIFO of values",
    "BPF_MAP_TYPE_TASK_STORAGE": "per-task state, freed with the task",
    "BPF_MAP_TYPE_CGRP_STORAGE": "per-cgroup state, freed with the cgroup",
}
REFUSED_MAP_TYPES = {
    "BPF_MAP_TYPE_RINGBUF": _OUTPUT,
    "BPF_MAP_TYPE_USER_RINGBUF": "lets user space feed data into the scheduler outside the agent's maps",
    "BPF_MAP_TYPE_PERF_EVENT_ARRAY": _OUTPUT,
    "BPF_MAP_TYPE_PROG_ARRAY": REFUSED_HELPERS["bpf_tail_call"],
    "BPF_MAP_TYPE_ARRAY_OF_MAPS": "holds other maps, which the static stage cannot see",
    "BPF_MAP_TYPE_HASH_OF_MAPS": "holds other maps, which the static stage cannot see",
    "BPF_MAP_TYPE_ARENA": "memory shared with user space",
}
UNLISTED_MAP_TYPE = "a CPU scheduler does not need it (it is not on the allow-list)"
# A map's max_entries, and its memory (entries x (key + value)); per-CPU maps count once.
MAX_MAP_ENTRIES = 65_536
MAX_MAP_BYTES = 16 << 20
# Global variables (.bss, .data, .rodata and their named variants) become array maps too.
MAX_GLOBAL_DATA_BYTES = 4 << 20

# -- sections ----------------------------------------------------------------------------

# Executable sections: sched_ext callbacks (sleepable or not) and the subprograms they call.
PROGRAM_SECTION = re.compile(r"^struct_ops(\.s)?/\w+$")
SUBPROGRAM_SECTION = ".text"
PROGRAM_SECTION_REASON = "only sched_ext struct_ops callbacks (struct_ops/ and struct_ops.s/) may run"
OPS_SECTION = ".struct_ops.link"
OPS_TYPE = "sched_ext_ops"
GLOBAL_DATA = re.compile(r"^\.(bss|data|rodata)(\..*)?$")
