"""Provisioning of what the verifier and micro-VM need: a sched_ext kernel, its headers, a guest userland."""
