"""Whose pods share a policy's nodes, and whether they consented to an Auto rollout there.

A node's scheduler is every pod's on it. An Auto policy (no person approved its revision)
may change it only where every other namespace with pods on the node (or on a node sharing
its kernel) lets its neighbours' Auto policies act, or where an admin opted the node in
with a label; elsewhere the node waits as Recommend would. An ungoverned cluster (no
SchedulingGovernance at all) consents everywhere, as before governance existed.
"""

from __future__ import annotations

from collections.abc import Iterable

from schedcp.api.v1alpha1.governance import AUTO_NODE_LABEL
from schedcp_operator.governance import Rules
from schedcp_operator.world import World


def neighbours(world: World, namespace: str, nodes: Iterable[str]) -> dict[str, list[str]]:
    """Other namespaces with live pods on `nodes` -> the nodes where they run."""
    found: dict[str, set[str]] = {}
    for node in nodes:
        for pod in world.pods_on(node):
            if pod.live and pod.namespace != namespace:
                found.setdefault(pod.namespace, set()).add(node)
    return {ns: sorted(where) for ns, where in sorted(found.items())}


def opted_in(world: World) -> set[str]:
    """The nodes an admin opted in to Auto policies, whoever runs pods there."""
    return world.nodes_labelled({AUTO_NODE_LABEL: "true"})


def holdouts(world: World, namespace: str, domain: list[str], opted: set[str]) -> list[Rules]:
    """The rules of each namespace whose pods on `domain` (nodes of one kernel) did not
    consent; `opted` is `opted_in(world)`, read once per step."""
    if domain and all(node in opted for node in domain):
        return []
    refusing = []
    for other in neighbours(world, namespace, domain):
        rules = world.rules(other)
        if rules is not None and not rules.accept_neighbours_auto:
            refusing.append(rules)
    return refusing


def waiting_message(node: str, refusing: list[Rules]) -> str:
    whose = ", ".join(f"{r.namespace} ({r.source()})" for r in refusing)
    return (f"pods of namespaces {whose} run here without consent to other namespaces' Auto policies; "
            f"waits as in Recommend until an admin labels node {node} {AUTO_NODE_LABEL}=true or those "
            "namespaces' governance sets acceptNeighboursAuto")
