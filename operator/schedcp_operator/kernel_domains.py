"""Nodes that share one kernel are one scheduling domain.

kind nodes are containers on one host: a sched_ext scheduler that one node's agent
loads runs every task of every node, and of the host. The agents report the kernel's
boot id; nodes reporting the same one form a domain, in which exactly one agent (the
first node by name among the rollout's) loads, and the others only report. Nodes without
a boot id are a domain of their own.
"""

from __future__ import annotations

from collections import defaultdict

from schedcp_operator.workload import NodeReport


def kernel_domains(nodes: dict[str, NodeReport]) -> dict[str, list[str]]:
    """node -> every node (itself included, sorted) that runs on the same kernel."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name, report in nodes.items():
        boot_id = report.status.kernel.boot_id if report.status.kernel else None
        groups[boot_id or f"node/{name}"].append(name)
    return {name: sorted(group) for group in groups.values() for name in group}
