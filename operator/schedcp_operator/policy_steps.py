"""One lifecycle step on a policy as the operator last saw it, with its status written back.

Every status write carries the resourceVersion of the object the step started from, or
of the step's previous write: a step that raced another writer of the status (or started
from a copy that lagged) is refused (409) and taken again, on fresh data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client

from schedcp.api.v1alpha1 import GROUP, SCHEDULER_POLICY, VERSION
from schedcp.api.v1alpha1.policy import Phase, SchedulerPolicyStatus
from schedcp_operator.lifecycle import Event, Lifecycle
from schedcp_operator.policy_view import PolicyView
from schedcp_operator.world import World


def read_policy(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    """The object as the API server has it (kopf's copy may lag our own writes)."""
    try:
        return cast(dict[str, Any], client.CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, SCHEDULER_POLICY.plural, name))
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise


class StatusWriter:
    def __init__(self, api: client.ApiClient, obj: dict[str, Any]) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.obj = obj

    def write(self, status: SchedulerPolicyStatus) -> None:
        meta = self.obj["metadata"]
        self.obj["status"] = status.to_wire()
        written = cast(dict[str, Any], self.custom.replace_namespaced_custom_object_status(
            GROUP, VERSION, meta["namespace"], SCHEDULER_POLICY.plural, meta["name"], self.obj))
        meta["resourceVersion"] = written["metadata"]["resourceVersion"]


@dataclass(frozen=True)
class Taken:
    before: Phase | None
    after: Phase | None
    events: list[Event]


def take_step(lifecycle: Lifecycle, obj: dict[str, Any] | None, world: World | None = None) -> Taken | None:
    """On `obj`, which the step's status writes update; None when the policy is gone or
    going (its deletion handler releases it)."""
    if obj is None or obj["metadata"].get("deletionTimestamp"):
        return None
    policy = PolicyView.of(obj)
    writer = StatusWriter(lifecycle.api, obj)
    status, events = lifecycle.step(policy, writer.write, world)
    if status != policy.status:
        writer.write(status)
    return Taken(policy.status.phase, status.phase, events)
