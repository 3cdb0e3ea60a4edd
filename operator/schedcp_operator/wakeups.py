"""Which policies' steps to take now: the events that can change a step's outcome wake
them, instead of a short timer per policy reading the cluster again.

A node's report wakes the policies when anything but its heartbeat changed, a pod when
what a policy reads of it changed, a policy itself on any change of its own and every
policy when its rank or its deletion changed (conflicts), every policy when a governance
object or a namespace's labels changed (the rules a step applies).

The index functions (indexes.py) see every creation and change first, and call `seen`
here: kopf runs an index function on each event without the cause detection, handler
bookkeeping and log line per event that a watching handler costs, which at 1000 nodes'
heartbeats was most of the operator's idle CPU. kopf drops a deleted object from its
indexes without calling them, so deletions come through watching handlers filtered to
DELETED. Everything here runs in the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any

import kopf

from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp.api.v1alpha1.kinds import NODE_SCHEDULER_STATE, SCHEDULER_POLICY, SCHEDULING_GOVERNANCE
from schedcp_operator.conflicts import Rival

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

    def seen(self, key: Hashable, value: Any) -> None:
        """An object as an event shows it: every policy wakes if it differs from the last one seen."""
        if self._last.get(key) != value:
            self._last[key] = value
            self.wake_all()

    def gone(self, key: Hashable) -> None:
        self._last.pop(key, None)
        self.wake_all()


def wakeups_of(memo: kopf.Memo) -> Wakeups:
    """The operator's one Wakeups (kopf copies the memo per object, not what it holds)."""
    found: Wakeups = memo["wakeups"]
    return found


def node_report_key(name: str) -> tuple[str, str]:
    return ("node", name)


def pod_key(uid: str) -> tuple[str, str]:
    return ("pod", uid)


def labels_key(name: str) -> tuple[str, str]:
    return ("labels", name)


def policy_key(namespace: str, name: str) -> tuple[str, str, str]:
    return ("policy", namespace, name)


def governance_key(name: str) -> tuple[str, str]:
    return ("governance", name)


def namespace_key(name: str) -> tuple[str, str]:
    return ("namespace", name)


def _deleted(type: str | None, **_: Any) -> bool:
    return type == "DELETED"


@kopf.on.event(GROUP, VERSION, NODE_SCHEDULER_STATE.plural, when=_deleted)
async def node_state_deleted(name: str, memo: kopf.Memo, **_: Any) -> None:
    wakeups_of(memo).gone(node_report_key(name))


@kopf.on.event("", "v1", "pods", when=_deleted)
async def pod_deleted(uid: str, memo: kopf.Memo, **_: Any) -> None:
    wakeups_of(memo).gone(pod_key(uid))


@kopf.on.event(GROUP, VERSION, SCHEDULER_POLICY.plural, when=_deleted)
async def policy_deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    rival = Rival.of(body)
    wakeups_of(memo).gone(policy_key(rival.namespace, rival.name))


@kopf.on.event("", "v1", "nodes", when=_deleted)
async def node_deleted(name: str, memo: kopf.Memo, **_: Any) -> None:
    wakeups_of(memo).gone(labels_key(name))


@kopf.on.event(GROUP, VERSION, SCHEDULING_GOVERNANCE.plural, when=_deleted)
async def governance_deleted(name: str, memo: kopf.Memo, **_: Any) -> None:
    wakeups_of(memo).gone(governance_key(name))


@kopf.on.event("", "v1", "namespaces", when=_deleted)
async def namespace_deleted(name: str, memo: kopf.Memo, **_: Any) -> None:
    wakeups_of(memo).gone(namespace_key(name))
