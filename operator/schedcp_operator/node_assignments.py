"""The operator's side of NodeSchedulerState: which revision a node should run, for whom.

Every write carries the resourceVersion it was decided on, so two policies (or two
operator replicas) deciding about one node at once cannot both win: the second gets a
409 and decides again on fresh data. Unset fields are written as null, which a merge
patch needs to clear them.
"""

from __future__ import annotations

from typing import Any, cast

from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION, ObjectReference, RevisionReference
from schedcp.api.v1alpha1.kinds import NODE_SCHEDULER_STATE
from schedcp.api.v1alpha1.nodestate import PodClass
from schedcp_operator.workload import NodeReport

WRITE_ATTEMPTS = 4


class OwnerChanged(Exception):
    pass


class Assignments:
    def __init__(self, api: client.ApiClient) -> None:
        self.custom = client.CustomObjectsApi(api)

    def write(self, node: NodeReport, *, revision: RevisionReference | None, owner: ObjectReference | None,
              pod_classes: list[PodClass], shared_kernel_with: str | None = None) -> None:
        spec = {
            "desiredRevision": revision.to_wire() if revision else None,
            "policyRef": owner.to_wire() if owner else None,
            "podClasses": [p.to_wire() for p in pod_classes],
            "sharedKernelWith": shared_kernel_with,
        }
        version = node.resource_version
        for attempt in range(WRITE_ATTEMPTS):
            try:
                self.custom.patch_cluster_custom_object(GROUP, VERSION, NODE_SCHEDULER_STATE.plural, node.name,
                                                        {"metadata": {"resourceVersion": version}, "spec": spec})
                return
            except client.ApiException as error:
                if error.status != 409 or attempt == WRITE_ATTEMPTS - 1:
                    raise
            # The agent's status writes move the resourceVersion too: only a change of owner
            # since the decision makes the decision stale.
            fresh = cast(dict[str, Any],
                         self.custom.get_cluster_custom_object(GROUP, VERSION, NODE_SCHEDULER_STATE.plural, node.name))
            if (fresh.get("spec") or {}).get("policyRef") != (node.spec.policy_ref.to_wire() if node.spec.policy_ref else None):
                raise OwnerChanged(f"node {node.name} changed owner while this policy decided about it")
            version = fresh["metadata"]["resourceVersion"]


def owned_by(node: NodeReport, policy: ObjectReference) -> bool:
    ref = node.spec.policy_ref
    return ref is not None and (ref.namespace, ref.name) == (policy.namespace, policy.name)


def runs(node: NodeReport, revision: RevisionReference) -> bool:
    """The agent reports the revision loaded and sched_ext enabled."""
    active = node.status.active
    return bool(active and active.state == "enabled" and active.revision
                and (active.revision.name, active.revision.sha256) == (revision.name, revision.sha256))
