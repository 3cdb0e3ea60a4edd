"""What a node ran before a policy is on record before the policy writes the node, so a
step that fails after its write has landed still reverts the node to it.

The lifecycle runs in this process against the real API server, with a simulated node,
taking the same steps (and status writes) as the operator's timer; the policy starts in
Canary with a revision already chosen, since the subject is the rollout's writes.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION, ObjectReference, RevisionReference, now
from schedcp.api.v1alpha1.policy import (
    ChosenRevision,
    NodePhase,
    Phase,
    RolloutProgress,
    SchedulerPolicySpec,
    SchedulerPolicyStatus,
)
from schedcp_operator.lifecycle import Lifecycle, Settings, spec_digest
from schedcp_operator.node_assignments import Assignments
from schedcp_operator.policy_steps import read_policy, take_step
from schedcp_operator.policy_view import PolicyView
from tests.operator.simulated_nodes import PLURAL as NODE_STATES
from tests.operator.simulated_nodes import Behaviour, SimulatedNode
from tests.operator.test_rollout import PLURAL, policy_body

pytestmark = pytest.mark.cluster

EARLIER = RevisionReference(name="earlier-rev", sha256="b" * 64)
CHOSEN = RevisionReference(name="web-rev", sha256="c" * 64)


def in_canary(spec: dict[str, Any]) -> SchedulerPolicyStatus:
    return SchedulerPolicyStatus(phase=Phase.CANARY, phase_since=now(),
                                 spec_digest=spec_digest(SchedulerPolicySpec.model_validate(spec)),
                                 revision=ChosenRevision(name=CHOSEN.name, sha256=CHOSEN.sha256),
                                 rollout=RolloutProgress(revision=CHOSEN))


class AnswerLost(Assignments):
    """The first write of the chosen revision reaches the API server; its answer does not."""

    lost = False

    def write(self, node: Any, **kwargs: Any) -> None:
        super().write(node, **kwargs)
        if kwargs["revision"] == CHOSEN and not self.lost:
            self.lost = True
            raise client.ApiException(status=500, reason="connection reset after the request was sent")


def test_a_node_written_in_a_step_that_failed_reverts_to_what_it_ran_before(
        kube_cluster, namespace, crds_installed) -> None:
    api = kube_cluster.api_client()
    custom = client.CustomObjectsApi(api)
    # The node never reports loading, so the second step finds the write Applied, not
    # already Active (a loading node's thread would race the step, 0.5 s apart).
    node = SimulatedNode(api, f"{namespace}-n0", Behaviour(on_load="stall"))
    try:
        for app in ("web", "batch"):
            node.add_pod(namespace, f"{app}-0", {"app": app})
        earlier_owner = ObjectReference(name="earlier", namespace=namespace)
        custom.patch_cluster_custom_object(GROUP, VERSION, NODE_STATES, node.name, {"spec": {
            "desiredRevision": EARLIER.to_wire(), "policyRef": earlier_owner.to_wire()}})
        body = policy_body("web")
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, "web",
                                                     {"status": in_canary(body["spec"]).to_wire()})
        lifecycle = Lifecycle(api, Settings(artifacts_namespace=namespace))
        lifecycle.nodes.assignments = AnswerLost(api)

        with pytest.raises(client.ApiException):
            take_step(lifecycle, read_policy(api, namespace, "web"))
        assert node.spec().desired_revision == CHOSEN, "the write landed"
        time.sleep(1)  # long enough for a loading node to have reported
        take_step(lifecycle, read_policy(api, namespace, "web"))
        status = PolicyView.of(read_policy(api, namespace, "web")).status
        entry = status.rollout.nodes[0]
        assert (entry.phase, entry.previous, entry.previous_owner) == (NodePhase.APPLIED, EARLIER, earlier_owner)

        lifecycle.release(PolicyView.of(read_policy(api, namespace, "web")), now())
        reverted = node.spec()
        assert (reverted.desired_revision, reverted.policy_ref) == (EARLIER, earlier_owner)
    finally:
        node.close()
