"""A policy whose every candidate is safe but slower than EEVDF on the replay ends
NoImprovement: the table of what was tried, no revision, no node touched.

The lifecycle and the design (which the operator runs in a process of its own) run in
this process against the real API server, with simulated nodes; the verifier's
performance gate is stubbed with reports of the gate's own making (its real run
is tests/verifying/test_performance_gate.py), so the subject is what the lifecycle does
with the verdict.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp.api.v1alpha1.policy import CandidateVerdict, ObjectiveKind, Phase, SchedulerPolicyStatus
from schedcp.api.v1alpha1.revision import VerificationReport
from schedcp.verifying.performance import PerformanceGoal
from schedcp_operator.design import tools
from schedcp_operator.design_exchange import DesignTask
from schedcp_operator.design_task import run_design
from schedcp_operator.lifecycle import Event, Lifecycle, Settings
from schedcp_operator.policy_view import PolicyView
from tests.design.gate_stub import slower_than_eevdf
from tests.operator.simulated_nodes import SimulatedNode
from tests.operator.test_rollout import PLURAL, policy_body

pytestmark = pytest.mark.cluster


def in_memory(status: SchedulerPolicyStatus) -> None:
    """These steps keep the policy's status in the test's view, not on the API server."""


def design(lifecycle: Lifecycle, view: PolicyView) -> None:
    assert view.status.spec_digest
    run_design(lifecycle.api, DesignTask(namespace=view.namespace, name=view.name, uid=view.uid, spec=view.spec,
                                         spec_digest=view.status.spec_digest,
                                         artifacts_namespace=lifecycle.settings.artifacts_namespace))


def step_until(lifecycle: Lifecycle, view: PolicyView, phase: Phase, timeout: float = 60) -> tuple[PolicyView, list[Event]]:
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    while view.status.phase != phase:
        assert time.monotonic() < deadline, f"still {view.status.phase}: {view.status.conditions}"
        if view.status.phase == Phase.DESIGNING:
            design(lifecycle, view)
        status, new = lifecycle.step(view, in_memory)
        view, events = dataclasses.replace(view, status=status), events + new
        time.sleep(0.2)
    return view, events


def test_a_policy_with_nothing_better_than_eevdf_ends_no_improvement_and_touches_no_node(
    kube_cluster, namespace, crds_installed, monkeypatch
) -> None:
    goals: list[PerformanceGoal] = []

    def gate(source: str, tunables: dict[str, int], dynamic: bool, goal: PerformanceGoal) -> VerificationReport:
        goals.append(goal)
        return slower_than_eevdf(source, tunables, dynamic)

    monkeypatch.setattr(tools, "verify_remembered", gate)
    api = kube_cluster.api_client()
    custom = client.CustomObjectsApi(api)
    node = SimulatedNode(api, f"{namespace}-n0")
    try:
        for app in ("web", "batch"):
            node.add_pod(namespace, f"{app}-0", {"app": app})
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, policy_body("web"))
        obj: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "web")
        view = dataclasses.replace(PolicyView.of(obj), status=SchedulerPolicyStatus(phase=Phase.PENDING))
        lifecycle = Lifecycle(api, Settings(artifacts_namespace=namespace))
        view, events = step_until(lifecycle, view, Phase.NO_IMPROVEMENT)

        status = view.status
        ready = next(c for c in status.conditions if c.type == "Ready")
        assert (ready.status, ready.reason) == ("False", "NoImprovement")
        ended = [e for e in events if e.reason == "NoImprovement"]
        assert len(ended) == 1 and ended[0].type == "Normal"
        assert "latency-class" in ended[0].message and "EEVDF 2900.0, candidate 205000.0" in ended[0].message
        assert status.tried and {t.verdict for t in status.tried} == {CandidateVerdict.NOT_BETTER}
        assert status.tried[0].template == "latency-class" and status.tried[0].baseline == 2900.0
        assert status.revision is None and status.rollout is None
        # The gate judged the policy's objective on the replay of its profile: the web pod's
        # wakeups as wakers, the batch pod's CPU as a hog.
        assert goals and goals[0].objective == ObjectiveKind.LATENCY and goals[0].replay.hogs == 1

        assert node.spec().desired_revision is None and node.spec().policy_ref is None
        revisions = custom.list_cluster_custom_object(GROUP, VERSION, "schedulerrevisions")["items"]
        assert not [r for r in revisions if (r["spec"].get("policyRef") or {}).get("namespace") == namespace]
        # Terminal: a later step changes nothing and says nothing.
        again, more = lifecycle.step(view, in_memory)
        assert again.phase == Phase.NO_IMPROVEMENT and not more
        # And the CRD's schema takes the outcome as the operator writes it.
        custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, "web", {"status": status.to_wire()})
        stored = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "web")["status"]
        assert stored["phase"] == "NoImprovement" and stored["tried"][0]["verdict"] == "NotBetter"
    finally:
        node.close()
