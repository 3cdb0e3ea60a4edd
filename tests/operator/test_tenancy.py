"""Two tenants on shared nodes, with the operator as a process and the nodes' agents
simulated (see simulated_nodes): namespace A's policies against namespace B's pods.

What a spec may say is the API server's to refuse (tests/chart/test_governance_policy.py);
here is what depends on the cluster: which nodes an Auto rollout may touch, what an
annotation may create, and the canary's answer to the neighbours it hurts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp.api.v1alpha1.governance import AUTO_NODE_LABEL
from schedcp_cli.components import wait_until
from tests.operator.simulated_nodes import Behaviour
from tests.operator.test_rollout import Scene, condition, operator, policy_body, scene  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.cluster, pytest.mark.vm]

GOVERNANCES = "schedulinggovernances"


@pytest.fixture
def govern(kube_cluster) -> Iterator[Callable[..., str]]:
    """Governance objects of one test (cluster-scoped, so deleted after it): each selects the
    namespaces named."""
    custom = client.CustomObjectsApi(kube_cluster.api_client())
    made: list[str] = []

    def create(*namespaces: str, **spec: Any) -> str:
        name = f"gov-{uuid.uuid4().hex[:8]}"
        selector = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                          "values": list(namespaces)}]}
        custom.create_cluster_custom_object(GROUP, VERSION, GOVERNANCES, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "SchedulingGovernance", "metadata": {"name": name},
            "spec": {"namespaceSelector": selector, **spec}})
        made.append(name)
        return name

    yield create
    for name in made:
        custom.delete_cluster_custom_object(GROUP, VERSION, GOVERNANCES, name)


def _events(where: Scene, namespace: str, name: str) -> list[dict[str, Any]]:
    listed = where.kube.kubectl("get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}",
                                "-o", "json")
    return json.loads(listed.stdout)["items"]


def _nodes(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in (body.get("status", {}).get("rollout") or {}).get("nodes", [])}


def test_an_auto_policy_waits_on_nodes_shared_with_a_namespace_that_did_not_consent(
        scene, operator, govern, neighbour_namespace) -> None:  # noqa: F811 (fixtures)
    a, b = scene.namespace, neighbour_namespace
    alone, labelled, consenting = scene.node(), scene.node(), scene.node()
    for node in (labelled, consenting):
        node.add_pod(b, f"b-{node.name}", {"app": "b"})
    mine = govern(a, allowAuto=True, maxPriority=500)
    op = operator()
    scene.apply(policy_body("web"))

    def waiting_on_both() -> dict[str, Any] | None:
        body = scene.policy("web")
        nodes = _nodes(body)
        phases = {name: nodes.get(name, {}).get("phase") for name in (alone.name, labelled.name, consenting.name)}
        expected = {alone.name: "Active", labelled.name: "Recommended", consenting.name: "Recommended"}
        waiting = phases == expected and body["status"]["phase"] == "RollingOut"
        return body if waiting and condition(body, "Ready")["reason"] == "AwaitingConsent" else None

    body = wait_until(waiting_on_both, 240, "the canary passed, the shared nodes awaiting consent", op.recent)
    assert body["status"]["neighbours"] == [b]
    ready = condition(body, "Ready")
    assert b in ready["message"] and AUTO_NODE_LABEL in ready["message"]
    assert labelled.spec().desired_revision is None and consenting.spec().desired_revision is None
    warnings = [e for e in _events(scene, a, "web") if e["reason"] == "AwaitingConsent"]
    assert warnings and all(e["type"] == "Warning" and b in e["message"] for e in warnings)
    assert any(e["reason"] == "SharedNodes" and b in e["message"] for e in _events(scene, a, "web"))

    # An admin opts one node in: the rollout goes on there, and only there.
    client.CoreV1Api(scene.api).patch_node(labelled.name, {"metadata": {"labels": {AUTO_NODE_LABEL: "true"}}})
    wait_until(lambda: _nodes(scene.policy("web")).get(labelled.name, {}).get("phase") == "Active", 120,
               "the labelled node active", op.recent)
    assert _nodes(scene.policy("web"))[consenting.name]["phase"] == "Recommended"

    # B's namespace consents: the last node follows, and the policy is Active.
    govern(b, acceptNeighboursAuto=True)
    body = scene.wait_phase("web", "Active", op, timeout=120)
    assert {n["phase"] for n in _nodes(body).values()} == {"Active"}
    assert mine  # A's own governance allowed Auto throughout

    # The neighbours leave: an Active policy's status follows.
    for node in (labelled, consenting):
        client.CoreV1Api(scene.api).delete_namespaced_pod(f"b-{node.name}", b, grace_period_seconds=0)
    wait_until(lambda: scene.policy("web")["status"].get("neighbours", []) == [], 60, "no neighbours left", op.recent)


def test_a_namespace_that_forbids_auto_waits_for_approval_and_the_approver_is_recorded(
        scene, operator, govern) -> None:  # noqa: F811 (fixtures)
    scene.node()
    governance = govern(scene.namespace)
    op = operator()
    scene.apply(policy_body("web"))
    body = scene.wait_phase("web", "Recommended", op)
    ready = condition(body, "Ready")
    assert ready["reason"] == "AutoNotAllowed" and f"SchedulingGovernance {governance}" in ready["message"]
    assert "rule allowAuto" in ready["message"]

    # A person approves; the annotation is what the chart's mutating admission policy writes
    # (tests/chart/test_governance_policy.py), set here by hand.
    revision = body["status"]["revision"]["name"]
    scene.custom.patch_namespaced_custom_object(GROUP, VERSION, scene.namespace, "schedulerpolicies", "web", {
        "metadata": {"annotations": {"schedcp.io/approved-by": "alice"}},
        "spec": {"mode": "Recommend", "approvedRevision": revision}})
    scene.wait_phase("web", "Active", op)
    stored = scene.custom.get_cluster_custom_object(GROUP, VERSION, "schedulerrevisions", revision)
    approvals = stored["status"]["approvals"]
    assert [(a["user"], a["policy"]) for a in approvals] == [("alice", {"name": "web", "namespace": scene.namespace})]


def test_an_annotation_in_a_namespace_that_forbids_derived_policies_creates_nothing(
        scene, operator, govern) -> None:  # noqa: F811 (fixtures)
    governance = govern(scene.namespace, derivedPolicies="Off")
    node = scene.node(labels=())
    op = operator()
    node.add_pod(scene.namespace, "annotated", {"app": "web"}, {"schedcp.io/optimize": "latency"})

    def warned() -> list[dict[str, Any]]:
        return [e for e in _events(scene, scene.namespace, "annotated") if e["reason"] == "DerivedPolicyForbidden"]

    found = wait_until(warned, 120, "a Warning Event on the annotated pod", op.recent)
    assert found[0]["type"] == "Warning"
    assert f"SchedulingGovernance {governance}" in found[0]["message"] and "derivedPolicies" in found[0]["message"]
    assert not scene.policy("optimize-latency")
    listed = scene.custom.list_namespaced_custom_object(GROUP, VERSION, scene.namespace, "schedulerpolicies")
    assert listed["items"] == []


def test_a_canary_that_hurts_another_namespaces_pods_rolls_back_and_names_them(
        scene, operator, govern, neighbour_namespace) -> None:  # noqa: F811 (fixtures)
    a, b = scene.namespace, neighbour_namespace
    canary = scene.node(Behaviour(hurts=b))
    canary.add_pod(b, "b-batch", {"app": "b"})
    rest = [scene.node() for _ in range(2)]
    govern(a, allowAuto=True)
    govern(b, acceptNeighboursAuto=True, maxNeighbourLossPercent=20)
    op = operator()
    scene.apply(policy_body("web"))
    body = scene.wait_phase("web", "RolledBack", op)
    ready = condition(body, "Ready")
    assert ready["reason"] == "CanaryHurtNeighbours"
    assert f"pods of namespaces {b} lost more than allowed" in ready["message"] and "at most 20% loss" in ready["message"]
    warning = next(e for e in _events(scene, a, "web") if e["reason"] == "CanaryHurtNeighbours")
    assert warning["type"] == "Warning" and b in warning["message"]
    assert canary.spec().desired_revision is None
    assert all(n.spec().desired_revision is None and n.loads == [] for n in rest), "the rollout went past the canary"
