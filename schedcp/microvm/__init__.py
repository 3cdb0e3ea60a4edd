"""QEMU micro-VMs with a sched_ext kernel: the verifier's dynamic stage and a whole test node."""
