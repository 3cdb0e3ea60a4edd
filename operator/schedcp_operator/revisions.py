"""SchedulerRevisions: a design's result, immutable, and the object nodes load from it.

The revision's name carries the object's digest, so writing it twice (an operator that
restarted between the design and the status write) is the same write. The object itself
is rebuilt from the revision's source: builds are reproducible, and a rebuild whose
digest differs from the verified one is refused rather than published. An scx binary's
"object" is its canonical text (crate, version, the binary's digest, arguments): the agent
runs the binary that text pins, from its own image.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
from pathlib import Path
from typing import Any, cast

from kubernetes import client

from schedcp.api.v1alpha1.base import (
    API_VERSION,
    GROUP,
    VERSION,
    ConditionStatus,
    ConditionType,
    RevisionReference,
)
from schedcp.api.v1alpha1.kinds import SCHEDULER_REVISION
from schedcp.api.v1alpha1.revision import (
    Approval,
    SchedulerRevisionSpec,
    SchedulerRevisionStatus,
    StageResult,
    VerificationReport,
)
from schedcp.artifacts import OBJECT_KEY, object_configmap_name
from schedcp.building import compile_scheduler
from schedcp.conditions import set_condition
from schedcp.naming import NAME_MAX, fit, label_value
from schedcp.provisioning.kernel import provision_kernel

DIGEST_LENGTH = 12


class PublishRefused(Exception):
    pass


def revision_name(policy: str, object_sha256: str) -> str:
    return f"{fit(policy, NAME_MAX - DIGEST_LENGTH - 1)}-{object_sha256[:DIGEST_LENGTH]}"


def verification_status(report: VerificationReport) -> SchedulerRevisionStatus:
    failed = next((s for s in report.stages if s.result == StageResult.FAILED), None)
    condition = (ConditionStatus.TRUE, "Passed", "static checks, the kernel verifier and a micro-VM run passed") \
        if report.passed else (ConditionStatus.FALSE, f"{failed.name.title() if failed else 'Kernel'}Failed",
                               failed.message if failed else report.failure() or "a stage did not run")
    status, reason, message = condition
    return SchedulerRevisionStatus(
        conditions=set_condition([], type=ConditionType.VERIFIED, status=status, reason=reason, message=message),
        verification=report,
    )


def _artifact(spec: SchedulerRevisionSpec) -> bytes:
    """What a node gets: the object built from the code, or the binary's canonical text."""
    if spec.source.code is None:
        return spec.source.text().encode()
    with tempfile.TemporaryDirectory(prefix="schedcp-publish-") as tmp:
        return compile_scheduler(spec.source.code, spec.tunables, provision_kernel().vmlinux_h, Path(tmp)).path.read_bytes()


class Revisions:
    def __init__(self, api: client.ApiClient, artifacts_namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.artifacts_namespace = artifacts_namespace

    def create(self, name: str, spec: SchedulerRevisionSpec, report: VerificationReport) -> None:
        body = {"apiVersion": API_VERSION, "kind": SCHEDULER_REVISION.kind, "metadata": {"name": name},
                "spec": spec.to_wire()}
        try:
            self.custom.create_cluster_custom_object(GROUP, VERSION, SCHEDULER_REVISION.plural, body)
        except client.ApiException as error:
            if error.status != 409:
                raise
        self.record_verification(name, report)

    def record_verification(self, name: str, report: VerificationReport) -> None:
        self.custom.patch_cluster_custom_object_status(
            GROUP, VERSION, SCHEDULER_REVISION.plural, name, {"status": verification_status(report).to_wire()})

    def record_approval(self, name: str, approval: Approval) -> None:
        """Into the revision's provenance: a policy's latest approval replaces its earlier one."""
        found = self.read(name)
        if found is None:
            return
        kept = [a for a in found[1].approvals if a.policy != approval.policy][-31:]
        self.custom.patch_cluster_custom_object_status(
            GROUP, VERSION, SCHEDULER_REVISION.plural, name,
            {"status": {"approvals": [a.to_wire() for a in (*kept, approval)]}})

    def read(self, name: str) -> tuple[SchedulerRevisionSpec, SchedulerRevisionStatus] | None:
        try:
            obj = cast(dict[str, Any], self.custom.get_cluster_custom_object(GROUP, VERSION, SCHEDULER_REVISION.plural, name))
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise
        return SchedulerRevisionSpec.model_validate(obj["spec"]), SchedulerRevisionStatus.model_validate(obj.get("status") or {})

    def publish(self, ref: RevisionReference, spec: SchedulerRevisionSpec) -> None:
        """The object in the ConfigMap the agents read, after checking the rebuild is the verified one."""
        data = _artifact(spec)
        digest = hashlib.sha256(data).hexdigest()
        if digest != ref.sha256:
            raise PublishRefused(f"the rebuilt object has sha256 {digest[:12]}…, verification pinned {ref.sha256[:12]}…")
        body = client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=object_configmap_name(ref.name),
                                         labels={"schedcp.io/revision": label_value(ref.name)}),
            binary_data={OBJECT_KEY: base64.b64encode(data).decode()})
        try:
            self.core.create_namespaced_config_map(self.artifacts_namespace, body)
        except client.ApiException as error:
            if error.status != 409:
                raise
