"""A SchedulerPolicy as a step reads it: its identity, its parsed spec and status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schedcp.api.v1alpha1.base import ObjectReference
from schedcp.api.v1alpha1.policy import SchedulerPolicySpec, SchedulerPolicyStatus

APPROVED_BY_ANNOTATION = "schedcp.io/approved-by"


@dataclass(frozen=True)
class PolicyView:
    namespace: str
    name: str
    uid: str
    generation: int
    created: str
    spec: SchedulerPolicySpec
    status: SchedulerPolicyStatus
    # Who set spec.approvedRevision, as the API server's admission policy recorded it.
    approved_by: str | None = None

    @classmethod
    def of(cls, obj: dict[str, Any]) -> PolicyView:
        meta = obj["metadata"]
        return cls(namespace=meta["namespace"], name=meta["name"], uid=meta["uid"], generation=int(meta.get("generation") or 0),
                   created=meta.get("creationTimestamp") or "", spec=SchedulerPolicySpec.model_validate(obj["spec"]),
                   status=SchedulerPolicyStatus.model_validate(obj.get("status") or {}),
                   approved_by=(meta.get("annotations") or {}).get(APPROVED_BY_ANNOTATION))

    @property
    def ref(self) -> ObjectReference:
        return ObjectReference(name=self.name, namespace=self.namespace)
