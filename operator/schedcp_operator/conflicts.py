"""One scheduler per node: when two policies want the same node, which one keeps it.

Higher `spec.priority` wins, then the older policy, then the name, so every replica and
every policy computes the same answer. A priority counts up to its namespace's governance
cap: a policy admitted before the cap was lowered cannot outrank by more than it allows. A policy whose owner reference points at a policy
that no longer exists (or is being deleted) does not hold the node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


def outranks(rival: Rival | None, policy: Ranked, *, cap: Callable[[str], int | None] = lambda _: None) -> bool:
    """`cap` gives a namespace's highest priority, None where nothing caps it."""
    if rival is None or rival.deleting:
        return False
    return (rank(_capped(rival.priority, cap(rival.namespace)), rival.created, rival.namespace, rival.name)
            < rank(_capped(policy.spec.priority, cap(policy.namespace)), policy.created, policy.namespace, policy.name))


def _capped(priority: int, cap: int | None) -> int:
    return priority if cap is None else min(priority, cap)
