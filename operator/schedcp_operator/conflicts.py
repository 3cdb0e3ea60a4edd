"""One scheduler per node: when two policies want the same node, which one keeps it.

Higher `spec.priority` wins, then the older policy, then the name, so every replica and
every policy computes the same answer. A policy whose owner reference points at a policy
that no longer exists does not hold the node.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION, ObjectReference
from schedcp.api.v1alpha1.kinds import SCHEDULER_POLICY


class Ranked(Protocol):
    @property
    def namespace(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def created(self) -> str: ...

    @property
    def spec(self) -> Any: ...


def rank(priority: int, created: str, namespace: str, name: str) -> tuple[int, str, str, str]:
    """Smaller ranks first."""
    return (-priority, created, namespace, name)


def outranks(api: client.ApiClient, owner: ObjectReference, policy: Ranked) -> bool:
    try:
        other = cast(dict[str, Any], client.CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP, VERSION, owner.namespace or "", SCHEDULER_POLICY.plural, owner.name))
    except client.ApiException as error:
        if error.status == 404:
            return False
        raise
    if other["metadata"].get("deletionTimestamp"):
        return False
    theirs = rank(int(other["spec"].get("priority", 100)), other["metadata"].get("creationTimestamp") or "",
                  owner.namespace or "", owner.name)
    return theirs < rank(policy.spec.priority, policy.created, policy.namespace, policy.name)
