"""The operator's watch caches: kopf indexes of pods (by namespace and by node), nodes' and
namespaces' labels, NodeSchedulerStates, policies and governance objects, kept current by
kopf's watches, and the World a step reads from them. Each index function also tells the
wake-ups what it saw (wakeups.py says why there).

A step then sends the API server no read: what it costs the API server is a few watches,
whatever the number of policies. kopf starts no handler before every index has been
filled from its first listing, so a step never sees a half-known cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import kopf

from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp.api.v1alpha1.governance import SchedulingGovernanceSpec
from schedcp.api.v1alpha1.kinds import NODE_SCHEDULER_STATE, SCHEDULER_POLICY, SCHEDULING_GOVERNANCE
from schedcp_operator.conflicts import Rival
from schedcp_operator.governance import Rules, rules_for
from schedcp_operator.wakeups import (
    governance_key,
    labels_key,
    namespace_key,
    node_report_key,
    pod_key,
    policy_key,
    wakeups_of,
)
from schedcp_operator.workload import NodeReport, PodFacts

V = TypeVar("V")


# Async: kopf would run a sync index function in a thread, per event of every node.
@kopf.index("", "v1", "pods")
async def pods_by_namespace(uid: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> dict[str, PodFacts]:
    pod = PodFacts.of(body)
    wakeups_of(memo).seen(pod_key(uid), pod)
    return {pod.namespace: pod}


@kopf.index("", "v1", "pods")
async def pods_by_node(body: kopf.Body, **_: Any) -> dict[str, PodFacts] | None:
    pod = PodFacts.of(body)
    return {pod.node: pod} if pod.node else None


@kopf.index("", "v1", "namespaces")
async def namespace_labels(name: str, labels: kopf.Labels, memo: kopf.Memo, **_: Any) -> dict[str, dict[str, str]]:
    wakeups_of(memo).seen(namespace_key(name), dict(labels))
    return {name: dict(labels)}


@kopf.index(GROUP, VERSION, SCHEDULING_GOVERNANCE.plural)
async def governances(name: str, spec: kopf.Spec, memo: kopf.Memo, **_: Any) -> dict[str, SchedulingGovernanceSpec]:
    governance = SchedulingGovernanceSpec.model_validate(dict(spec))
    wakeups_of(memo).seen(governance_key(name), governance)
    return {name: governance}


@kopf.index("", "v1", "nodes")
async def node_labels(name: str, labels: kopf.Labels, memo: kopf.Memo, **_: Any) -> dict[str, dict[str, str]]:
    wakeups_of(memo).seen(labels_key(name), dict(labels))
    return {name: dict(labels)}


@kopf.index(GROUP, VERSION, NODE_SCHEDULER_STATE.plural)
async def node_states(name: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> dict[str, NodeReport]:
    report = NodeReport.of(body)
    # A digest, not the report: a second copy of every node's status would double what
    # the operator holds per node.
    what = hash((report.spec.model_dump_json(), report.status.model_dump_json(exclude={"heartbeat_time"})))
    wakeups_of(memo).seen(node_report_key(name), what)
    return {name: report}


@kopf.index(GROUP, VERSION, SCHEDULER_POLICY.plural)
async def policies(body: kopf.Body, memo: kopf.Memo, **_: Any) -> dict[tuple[str, str], Rival]:
    rival, wakeups = Rival.of(body), wakeups_of(memo)
    wakeups.seen(policy_key(rival.namespace, rival.name), rival)  # a rank or a deletion mark: every policy
    wakeups.wake((rival.namespace, rival.name))  # any change of its own: this policy
    return {(rival.namespace, rival.name): rival}


def _only(index: kopf.Index[Any, V], key: Any) -> V | None:
    """The value of a key that one object has (a name)."""
    found = list(index.get(key, []))
    return found[0] if found else None


class IndexedWorld:
    """A World of the indexes, as kopf passes them to a handler.

    A step reads it from a worker thread while the event loop updates the indexes: each
    read copies a dict in one C call (list() of its keys or values), which no other Python
    thread interleaves, and a key gone since then reads as absent, so no read iterates a
    dict that changes size under it."""

    def __init__(self, indexes: Mapping[str, Any]) -> None:
        self._pods: kopf.Index[str, PodFacts] = indexes["pods_by_namespace"]
        self._labels: kopf.Index[str, dict[str, str]] = indexes["node_labels"]
        self._states: kopf.Index[str, NodeReport] = indexes["node_states"]
        self._policies: kopf.Index[tuple[str, str], Rival] = indexes["policies"]
        self._on_node: kopf.Index[str, PodFacts] = indexes["pods_by_node"]
        self._namespaces: kopf.Index[str, dict[str, str]] = indexes["namespace_labels"]
        self._governances: kopf.Index[str, SchedulingGovernanceSpec] = indexes["governances"]

    def pods(self, namespace: str) -> list[PodFacts]:
        return list(self._pods.get(namespace, []))

    def nodes_labelled(self, labels: Mapping[str, str]) -> set[str]:
        return {name for name in list(self._labels)
                if (have := _only(self._labels, name)) is not None and labels.items() <= have.items()}

    def node_reports(self) -> dict[str, NodeReport]:
        return {name: report for name in list(self._states) if (report := _only(self._states, name)) is not None}

    def policy(self, namespace: str, name: str) -> Rival | None:
        return _only(self._policies, (namespace, name))

    def pods_on(self, node: str) -> list[PodFacts]:
        return list(self._on_node.get(node, []))

    def rules(self, namespace: str) -> Rules | None:
        found = {name: spec for name in list(self._governances) if (spec := _only(self._governances, name)) is not None}
        labels = _only(self._namespaces, namespace)
        return rules_for(namespace, labels or {}, found)
