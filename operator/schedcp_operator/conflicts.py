"""One scheduler per node: when two policies want the same node, which one keeps it.

Higher `spec.priority` wins, then the older policy, then the name, so every replica and
every policy computes the same answer. A policy whose owner reference points at a policy
that no longer exists (or is being deleted) does not hold the node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class Ranked(Protocol):
    @property
    def namespace(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def created(self) -> str: ...

    @property
    def spec(self) -> Any: ...


@dataclass(frozen=True)
class Rival:
    """What ranking needs of another policy."""

    namespace: str
    name: str
    priority: int
    created: str
    deleting: bool

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Rival:
        meta = obj["metadata"]
        return cls(namespace=meta["namespace"], name=meta["name"], priority=int((obj.get("spec") or {}).get("priority", 100)),
                   created=meta.get("creationTimestamp") or "", deleting=bool(meta.get("deletionTimestamp")))


def rank(priority: int, created: str, namespace: str, name: str) -> tuple[int, str, str, str]:
    """Smaller ranks first."""
    return (-priority, created, namespace, name)


def outranks(rival: Rival | None, policy: Ranked) -> bool:
    if rival is None or rival.deleting:
        return False
    return (rank(rival.priority, rival.created, rival.namespace, rival.name)
            < rank(policy.spec.priority, policy.created, policy.namespace, policy.name))
