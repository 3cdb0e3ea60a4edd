"""Which policies' steps to take now: the events that can change a step's outcome wake
them, instead of a short timer per policy reading the cluster again.

A node's report wakes the policies when anything but its heartbeat changed, a pod when
what a policy reads of it changed, a policy itself on any change of its own and every
policy when its rank or its deletion changed (conflicts), every policy when a governance
object or a namespace's labels changed (the rules a step applies). Everything here runs in the
event loop: the handlers are async, and so are the steps' loops that wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any

import kopf

from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp.api.v1alpha1.kinds import NODE_SCHEDULER_STATE, SCHEDULER_POLICY, SCHEDULING_GOVERNANCE
from schedcp_operator.conflicts import Rival
from schedcp_operator.workload import PodFacts

PolicyKey = tuple[str, str]


class Wakeups:
    def __init__(self) -> None:
        self._waiting: dict[PolicyKey, asyncio.Event] = {}
        self._last: dict[Hashable, Any] = {}

    def register(self, policy: PolicyKey) -> asyncio.Event:
        return self._waiting.setdefault(policy, asyncio.Event())

    def forget(self, policy: PolicyKey) -> None:
        self._waiting.pop(policy, None)

    def wake(self, policy: PolicyKey) -> None:
        if (woken := self._waiting.get(policy)) is not None:
            woken.set()

    def wake_all(self) -> None:
        for woken in self._waiting.values():
            woken.set()

    def changed(self, key: Hashable, value: Any, gone: bool) -> bool:
        """Whether `value` differs from the last one seen for `key`."""
        before = self._last.pop(key, None) if gone else self._last.get(key)
        if not gone:
            self._last[key] = value
        return gone or before != value


def wakeups_of(memo: kopf.Memo) -> Wakeups:
    """The operator's one Wakeups (kopf copies the memo per object, not what it holds)."""
    found: Wakeups = memo["wakeups"]
    return found


@kopf.on.event(GROUP, VERSION, NODE_SCHEDULER_STATE.plural)
async def node_state_changed(name: str, body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    status = {k: v for k, v in (body.get("status") or {}).items() if k != "heartbeatTime"}
    if wakeups_of(memo).changed(("node", name), (dict(body.get("spec") or {}), status), type == "DELETED"):
        wakeups_of(memo).wake_all()


@kopf.on.event("", "v1", "pods")
async def pod_changed(uid: str, body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    if wakeups_of(memo).changed(("pod", uid), PodFacts.of(body), type == "DELETED"):
        wakeups_of(memo).wake_all()


@kopf.on.event(GROUP, VERSION, SCHEDULER_POLICY.plural)
async def policy_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    wakeups, rival = wakeups_of(memo), Rival.of(body)
    if wakeups.changed(("policy", rival.namespace, rival.name), rival, type == "DELETED"):
        wakeups.wake_all()
    wakeups.wake((rival.namespace, rival.name))


@kopf.on.event("", "v1", "nodes")
async def node_labels_changed(name: str, labels: kopf.Labels, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    if wakeups_of(memo).changed(("labels", name), dict(labels), type == "DELETED"):
        wakeups_of(memo).wake_all()


@kopf.on.event(GROUP, VERSION, SCHEDULING_GOVERNANCE.plural)
async def governance_changed(name: str, spec: kopf.Spec, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    if wakeups_of(memo).changed(("governance", name), dict(spec), type == "DELETED"):
        wakeups_of(memo).wake_all()


@kopf.on.event("", "v1", "namespaces")
async def namespace_labels_changed(name: str, labels: kopf.Labels, type: str | None, memo: kopf.Memo,
                                   **_: Any) -> None:
    if wakeups_of(memo).changed(("namespace", name), dict(labels), type == "DELETED"):
        wakeups_of(memo).wake_all()
