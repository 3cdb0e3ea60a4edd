"""The whole loop on the real API server: a policy's pods on several nodes, the operator as
a process, the nodes' agents simulated (see simulated_nodes). Designs are real (offline
planner or the Claude loop against the local Messages API) and so is verification: the
first test to need latency-class pays one micro-VM boot, later ones reuse its report.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp.artifacts import object_configmap_name
from schedcp_cli.components import wait_until
from schedcp_operator.design.journal import journal_name
from tests.messages_api.server import Expect, Reply, Turn, call
from tests.operator.simulated_nodes import Behaviour, SimulatedNode

pytestmark = [pytest.mark.cluster, pytest.mark.vm]

PLURAL = "schedulerpolicies"


def policy_body(name: str, mode: str = "Auto", **spec: Any) -> dict[str, Any]:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "SchedulerPolicy", "metadata": {"name": name},
        "spec": {
            "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "batch"]}]},
            "objective": {"kind": "latency", "protect": {"matchLabels": {"app": "web"}}},
            "mode": mode, "designer": {"kind": "offline"}, "profiling": {"minSamples": 5},
            "rollout": {"canaryNodes": 1, "evaluationWindowSeconds": 10, "activationTimeoutSeconds": 20},
        },
    }
    body["spec"].update(spec)
    return body


class Scene:
    """One test's cluster objects: simulated nodes with a web and a batch pod each."""

    def __init__(self, kube_cluster, namespace: str) -> None:
        self.kube = kube_cluster
        self.api = kube_cluster.api_client()
        self.custom = client.CustomObjectsApi(self.api)
        self.namespace = namespace
        self.nodes: list[SimulatedNode] = []

    def node(self, behaviour: Behaviour | None = None, boot_id: str | None = None,
             labels: tuple[str, ...] = ("web", "batch")) -> SimulatedNode:
        node = SimulatedNode(self.api, f"{self.namespace}-n{len(self.nodes)}", behaviour, boot_id)
        self.nodes.append(node)
        for app in labels:
            node.add_pod(self.namespace, f"{app}-{len(self.nodes)}", {"app": app})
        return node

    def apply(self, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def policy(self, name: str) -> dict[str, Any]:
        try:
            return self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
        except client.ApiException:
            return {}

    def wait_phase(self, name: str, phase: str, operator, timeout: float = 240) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            body = self.policy(name)
            status = body.get("status", {})
            if status.get("phase") in ("Failed", "RolledBack") and phase not in ("Failed", "RolledBack"):
                raise AssertionError(f"{name} ended {status['phase']}: {json.dumps(status.get('conditions'))}")
            return body if status.get("phase") == phase else None

        return wait_until(reached, timeout, f"policy {name} {phase}", operator.recent)

    def wait_condition(self, name: str, type: str, operator, timeout: float = 240, status: str = "True") -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            body = self.policy(name)
            found = {c["type"]: c for c in body.get("status", {}).get("conditions", [])}
            return body if found.get(type, {}).get("status") == status else None

        return wait_until(reached, timeout, f"{type}={status} on policy {name}", operator.recent)

    def events(self, name: str, *, type: str | None = None) -> list[str]:
        selector = f"involvedObject.name={name}" + (f",type={type}" if type else "")
        listed = self.kube.kubectl("get", "events", "-n", self.namespace, "--field-selector", selector, "-o", "json")
        items = sorted(json.loads(listed.stdout)["items"], key=lambda e: e.get("firstTimestamp") or "")
        return [e["reason"] for e in items]

    def close(self) -> None:
        for node in self.nodes:
            node.close()


def condition(body: dict[str, Any], type: str) -> dict[str, Any]:
    return next(c for c in body["status"]["conditions"] if c["type"] == type)


@pytest.fixture
def scene(kube_cluster, namespace) -> Iterator[Scene]:
    made = Scene(kube_cluster, namespace)
    yield made
    made.close()


@pytest.fixture
def operator(start_operator, namespace) -> Callable[..., Any]:
    return lambda **kw: start_operator("--standalone", "--artifacts-namespace", namespace, "--release-timeout", "20", **kw)


def test_auto_policy_goes_canary_first_then_active_on_every_node(scene, operator) -> None:
    nodes = [scene.node() for _ in range(3)]
    op = operator()
    scene.apply(policy_body("web"))
    body = scene.wait_phase("web", "Active", op)
    status = body["status"]
    revision = status["revision"]
    assert revision["template"] == "latency-class"
    assert status["nodes"] == {"targeted": 3, "canary": 1, "active": 3, "failed": 0, "shared": 0}
    assert status["metricsBefore"]["runDelayP99Micros"] == 4000 and status["metricsAfter"]["runDelayP99Micros"] == 800
    assert condition(body, "Ready")["status"] == "True"
    for node in nodes:
        spec = node.spec()
        assert spec.desired_revision.name == revision["name"] and spec.policy_ref.name == "web"
        assert {c.workload_class for c in spec.pod_classes} == {"latency", "batch"}
    rollout = {n["name"]: n for n in status["rollout"]["nodes"]}
    canary = next(n for n in rollout.values() if n["canary"])
    assert all(canary["since"] <= n["since"] for n in rollout.values())
    reasons = scene.events("web")
    assert reasons.index("CanaryPassed") < reasons.index("Active")

    stored = scene.custom.get_cluster_custom_object(GROUP, VERSION, "schedulerrevisions", revision["name"])
    assert stored["spec"]["policyRef"] == {"name": "web", "namespace": scene.namespace}
    assert stored["spec"]["provenance"]["designer"] == "offline"
    assert stored["status"]["verification"]["passed"] is True
    cm = client.CoreV1Api(scene.api).read_namespaced_config_map(f"schedcp-object-{revision['name']}", scene.namespace)
    assert hashlib.sha256(base64.b64decode(cm.binary_data["scheduler.bpf.o"])).hexdigest() == revision["sha256"]


def test_recommend_mode_waits_for_approval_then_rolls_out(scene, operator) -> None:
    node = scene.node()
    op = operator()
    scene.apply(policy_body("web", mode="Recommend"))
    body = scene.wait_phase("web", "Recommended", op)
    name = body["status"]["revision"]["name"]
    assert name in condition(body, "Ready")["message"]
    assert node.spec().desired_revision is None
    scene.custom.patch_namespaced_custom_object(GROUP, VERSION, scene.namespace, PLURAL, "web",
                                                {"spec": {"approvedRevision": name}})
    scene.wait_phase("web", "Active", op)
    assert node.spec().desired_revision.name == name


@pytest.mark.parametrize(("behaviour", "reason"), [
    (Behaviour(effect="worse"), "CanaryRegressed"),
    (Behaviour(on_load="eject"), "SchedulerEjected"),
    # The agent may say up to 1024 characters of why; the operator's node entry holds as much.
    (Behaviour(on_load="eject", ejection_reason="stall " * 170 + "end"), "SchedulerEjected"),
    (Behaviour(on_load="stall"), "ActivationStalled"),
])
def test_a_bad_canary_is_rolled_back_and_the_rollout_stops(scene, operator, behaviour, reason) -> None:
    canary = scene.node(behaviour)
    others = [scene.node(behaviour) for _ in range(2)]
    op = operator()
    scene.apply(policy_body("web"))
    body = scene.wait_phase("web", "RolledBack", op)
    assert condition(body, "Ready")["reason"] == reason
    assert condition(body, "RolledOut")["status"] == "False"
    if reason != "CanaryRegressed":  # a node's own failure: its entry says which, as a field
        entry = next(n for n in body["status"]["rollout"]["nodes"] if n["name"] == canary.name)
        assert entry["reason"] == reason, entry
    wait_until(lambda: canary.spec().desired_revision is None, 30, "canary reverted", op.recent)
    assert all(n.spec().desired_revision is None and n.loads == [] for n in others), "the rollout went past the canary"
    # kopf posts Events from a queue of its own, after the status that the wait above saw.
    wait_until(lambda: reason in scene.events("web", type="Warning"), 30, f"a {reason} Event", op.recent)
    learned = {"CanaryRegressed": "Regressed", "SchedulerEjected": "Ejected"}.get(reason)
    if learned:  # a verdict on the scheduler: the repository learns it (tests/operator/test_learning.py)
        outcome = wait_until(lambda: (scene.policy("web")["status"].get("outcome") or {}).get("recorded")
                             and scene.policy("web")["status"]["outcome"], 30, "the outcome recorded", op.recent)
        assert (outcome["outcome"], outcome["template"]) == (learned, "latency-class")
        assert "OutcomeRecorded" in scene.events("web")


def test_a_node_whose_kernel_refuses_the_revision_at_preflight_rolls_the_policy_back_naming_it(scene, operator) -> None:
    refusing = scene.node(Behaviour(on_load="refuse"))
    good = scene.node()
    op = operator()
    scene.apply(policy_body("web", rollout={"canaryNodes": 2, "evaluationWindowSeconds": 10,
                                           "activationTimeoutSeconds": 60}))
    body = scene.wait_phase("web", "RolledBack", op)
    ready = condition(body, "Ready")
    assert ready["reason"] == "PreflightFailed"
    assert f"{refusing.name}: PreflightFailed: preflight on kernel simulated" in ready["message"], ready
    assert "R2 invalid mem access 'scalar'" in ready["message"], ready
    wait_until(lambda: good.spec().desired_revision is None and refusing.spec().desired_revision is None, 30,
               "both nodes reverted", op.recent)
    assert refusing.loads == []
    assert "PreflightFailed" in scene.events("web")
    # The simulated kernel is no Debian kernel: the report says the nodes' preflight decides there.
    revision = body["status"]["revision"]["name"]
    stored = scene.custom.get_cluster_custom_object(GROUP, VERSION, "schedulerrevisions", revision)
    report = stored["status"]["verification"]
    assert report["unverifiedKernels"] == ["simulated"]
    assert [k["release"] for k in report["kernels"]] == [report["kernelRelease"]]


def test_two_policies_on_one_node_leave_one_scheduler_and_a_conflict(scene, operator) -> None:
    node = scene.node()
    op = operator()
    scene.apply(policy_body("first", priority=500))
    scene.wait_phase("first", "Active", op)
    scene.apply(policy_body("second", priority=100))
    body = scene.wait_condition("second", "Conflict", op)
    assert "first" in condition(body, "Conflict")["message"]
    assert node.spec().policy_ref.name == "first"
    assert scene.policy("first")["status"]["phase"] == "Active"


def test_nodes_sharing_a_kernel_load_once_and_conflict_as_one(scene, operator) -> None:
    """kind: three nodes on one kernel. One agent loads; a policy on another node of the
    same kernel conflicts as if it were on the same node."""
    kernel = "4d1e0c1a-0000-4000-8000-000000000001"
    nodes = [scene.node(boot_id=kernel) for _ in range(2)]
    # Another web tier, measured as the first: its design is the first's (a remembered report),
    # not a performance verdict of its own that could end in NoImprovement before any conflict.
    bystander = scene.node(boot_id=kernel, labels=("web-other", "batch-other"))
    op = operator()
    scene.apply(policy_body("web", priority=500))
    body = scene.wait_phase("web", "Active", op)
    assert body["status"]["nodes"] == {"targeted": 1, "canary": 1, "active": 1, "failed": 0, "shared": 1}
    loader, follower = nodes
    assert loader.spec().desired_revision.name == body["status"]["revision"]["name"]
    assert follower.spec().desired_revision is None and follower.spec().shared_kernel_with == loader.name
    assert follower.loads == []

    scene.apply(policy_body("other", priority=100,
                            podSelector={"matchExpressions": [{"key": "app", "operator": "In",
                                                               "values": ["web-other", "batch-other"]}]},
                            objective={"kind": "latency", "protect": {"matchLabels": {"app": "web-other"}}}))
    other = scene.wait_condition("other", "Conflict", op)
    assert "shares this kernel" in condition(other, "Conflict")["message"]
    assert bystander.spec().desired_revision is None and bystander.loads == []


def test_annotated_pods_get_a_derived_policy_that_goes_with_the_last_of_them(scene, operator) -> None:
    node = scene.node(labels=())
    for name in ("web-a", "web-b"):
        node.add_pod(scene.namespace, name, {"app": "web"}, {"schedcp.io/optimize": "latency"})
    op = operator()
    body = scene.wait_phase("optimize-latency", "Recommended", op)
    assert {o["name"] for o in body["metadata"]["ownerReferences"]} == {"web-a", "web-b"}
    assert body["spec"]["podSelector"]["matchLabels"] == {"schedcp.io/optimize": "latency"}
    pod = client.CoreV1Api(scene.api).read_namespaced_pod("web-a", scene.namespace)
    assert pod.metadata.labels["schedcp.io/optimize"] == "latency"
    for name in ("web-a", "web-b"):
        client.CoreV1Api(scene.api).delete_namespaced_pod(name, scene.namespace, grace_period_seconds=0)
    wait_until(lambda: not scene.policy("optimize-latency"), 120, "the derived policy collected", op.recent)


def test_deleting_a_policy_reverts_its_nodes_before_it_goes(scene, operator) -> None:
    nodes = [scene.node() for _ in range(2)]
    op = operator()
    scene.apply(policy_body("web"))
    scene.wait_phase("web", "Active", op)
    scene.custom.delete_namespaced_custom_object(GROUP, VERSION, scene.namespace, PLURAL, "web")
    wait_until(lambda: not scene.policy("web"), 60, "policy gone", op.recent)
    for node in nodes:
        spec = node.spec()
        assert spec.desired_revision is None and spec.policy_ref is None
        assert node.loaded is None


def test_a_deleted_policy_waits_for_its_nodes_to_report_their_previous_scheduler(scene, operator) -> None:
    node = scene.node()
    op = operator()
    scene.apply(policy_body("web"))
    scene.wait_phase("web", "Active", op)
    node.pause()
    scene.custom.delete_namespaced_custom_object(GROUP, VERSION, scene.namespace, PLURAL, "web")
    op.wait_for_message(f"waiting for {node.name} to report their previous scheduler", timeout=60)
    assert node.spec().desired_revision is None, "the revert is written before the wait"
    assert scene.policy("web"), "the finalizer holds while the node still runs the policy's scheduler"
    node.resume()
    wait_until(lambda: not scene.policy("web"), 60, "policy gone", op.recent)
    assert node.loaded is None


def test_an_operator_down_during_deletion_finishes_it_when_it_returns(scene, operator) -> None:
    node = scene.node()
    op = operator()
    scene.apply(policy_body("web"))
    scene.wait_phase("web", "Active", op)
    op.stop()
    scene.custom.delete_namespaced_custom_object(GROUP, VERSION, scene.namespace, PLURAL, "web")
    assert scene.policy("web"), "the finalizer keeps the object while the operator is away"
    successor = operator()
    wait_until(lambda: not scene.policy("web"), 60, "policy gone", successor.recent)
    assert node.spec().desired_revision is None


# -- names and selectors a new user may try --------------------------------------------

def test_a_policy_with_a_253_character_name_reaches_active(scene, operator) -> None:
    name = ("web-" + "long-" * 50)[:250] + "end"
    nodes = [scene.node() for _ in range(2)]
    op = operator()
    scene.apply(policy_body(name))
    body = scene.wait_phase(name, "Active", op, timeout=300)
    revision = body["status"]["revision"]["name"]
    assert len(name) == 253 and len(revision) <= 253
    assert all(n.spec().desired_revision.name == revision for n in nodes)
    stored = scene.custom.get_cluster_custom_object(GROUP, VERSION, "schedulerrevisions", revision)
    assert stored["spec"]["policyRef"]["name"] == name
    cm = client.CoreV1Api(scene.api).read_namespaced_config_map(object_configmap_name(revision), scene.namespace)
    assert len(cm.metadata.labels["schedcp.io/revision"]) <= 63


@pytest.fixture
def refuse_scheduler_objects(kube_cluster, namespace) -> Iterator[None]:
    """An admission policy that refuses (422) the ConfigMaps carrying scheduler objects in this namespace."""
    admission = client.AdmissionregistrationV1Api(kube_cluster.api_client())
    name = f"refuse-objects-{namespace}"
    admission.create_validating_admission_policy({"metadata": {"name": name}, "spec": {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                                                "resources": ["configmaps"]}]},
        "validations": [{"expression": "!has(object.metadata.labels) || !('schedcp.io/revision' in object.metadata.labels)",
                         "message": "no scheduler objects in this namespace"}]}})
    admission.create_validating_admission_policy_binding({"metadata": {"name": name}, "spec": {
        "policyName": name, "validationActions": ["Deny"],
        "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}}})
    core = client.CoreV1Api(kube_cluster.api_client())

    def refused() -> bool:
        try:
            core.create_namespaced_config_map(namespace, {"metadata": {
                "generateName": "probe-", "labels": {"schedcp.io/revision": "probe"}}})
        except client.ApiException as error:
            return error.status == 422
        return False

    wait_until(refused, 30, "the admission policy in force")
    yield
    admission.delete_validating_admission_policy_binding(name)
    admission.delete_validating_admission_policy(name)


def test_a_request_the_api_server_refuses_fails_the_policy_instead_of_retrying(
        scene, operator, refuse_scheduler_objects) -> None:
    node = scene.node()
    op = operator()
    scene.apply(policy_body("web"))
    body = scene.wait_phase("web", "Failed", op)
    ready = condition(body, "Ready")
    assert ready["reason"] == "RequestRefused" and "no scheduler objects in this namespace" in ready["message"]
    assert "RequestRefused" in scene.events("web")
    assert node.spec().desired_revision is None


@pytest.mark.parametrize(("spec", "reason", "blamed"), [
    ({"podSelector": {"matchLabels": {"app": "nothing"}}, "objective": {"kind": "latency"}},
     "NoPodsSelected", "spec.podSelector matches no"),
    ({"nodeSelector": {"pool": "nothing"}}, "NodeSelectorExcludesPods", "spec.nodeSelector matches no node"),
    ({"nodeSelector": {"pool": "idle"}}, "NodeSelectorExcludesPods", "spec.nodeSelector matches 1 node(s), none of"),
    ({"objective": {"kind": "latency", "protect": {"matchLabels": {"tier": "frontend"}}}},
     "ProtectedPodsNotSelected", "spec.objective.protect matches none"),
])
def test_a_selector_that_leaves_no_pod_is_not_accepted_and_named_once(scene, operator, spec, reason, blamed) -> None:
    scene.node()
    idle = scene.node(labels=())
    idle.core.patch_node(idle.name, {"metadata": {"labels": {"pool": "idle"}}})
    op = operator()
    scene.apply(policy_body("web", **spec))
    body = scene.wait_condition("web", "Accepted", op, status="False")
    accepted = condition(body, "Accepted")
    assert accepted["reason"] == reason and blamed in accepted["message"], accepted
    assert condition(body, "Ready")["reason"] == reason
    assert body["status"]["phase"] == "Profiling"
    time.sleep(3 * 2.0)  # a few more lifecycle steps: the Event is not posted again
    assert scene.events("web").count(reason) == 1, scene.events("web")


def test_a_policy_waiting_for_its_pods_is_accepted_once_they_come(scene, operator) -> None:
    node = scene.node(labels=())
    op = operator()
    scene.apply(policy_body("web", podSelector={"matchLabels": {"app": "later"}}, objective={"kind": "latency"}))
    scene.wait_condition("web", "Accepted", op, status="False")
    node.add_pod(scene.namespace, "later-0", {"app": "later"})
    body = scene.wait_condition("web", "Accepted", op, timeout=60)
    assert condition(body, "Accepted")["reason"] == "Valid"


# -- the Claude designer ----------------------------------------------------------------

BROKEN = """/* SPDX-License-Identifier: GPL-2.0 */
#include "schedcp.bpf.h"

void SCHEDCP_OPS(broken_enqueue, struct task_struct *p, u64 enq_flags)
{
	schedcp_insert(p, SCX_DSQ_GLOBAL, 2000 * NO_SUCH_CONSTANT, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops broken_ops = {
	.enqueue = (void *)broken_enqueue,
	.name = "schedcp_broken",
};
"""


def observed() -> Turn:
    return Turn(reply=Reply(tool_calls=[call("describe_workload", description="Wake-heavy web pods next to batch.",
                                             goals=["lower p99 run delay of the web pods"])]))


def claude_policy(name: str, max_repairs: int = 3) -> dict[str, Any]:
    return policy_body(name, designer={"kind": "claude", "maxRepairs": max_repairs})


def claude_env(messages_api) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": messages_api.url}


def test_a_design_the_verifier_rejects_never_reaches_a_node(scene, operator, messages_api) -> None:
    messages_api.script(
        observed(),
        Turn(expect=Expect(tools={"get_workload_profile", "search_repository", "read_template", "decide_plan"}),
             reply=Reply(tool_calls=[call("decide_plan", action="synthesize", reason="a minimal global queue")])),
        Turn(reply=Reply(tool_calls=[call("submit_source", source=BROKEN), call("run_verifier"),
                                     call("finish", rationale="done")])),
    )
    node = scene.node()
    op = operator(env=claude_env(messages_api))
    scene.apply(claude_policy("web", max_repairs=0))
    body = scene.wait_phase("web", "Failed", op)
    messages_api.assert_done()
    assert condition(body, "Ready")["reason"] == "DesignFailed"
    assert "verifier" in condition(body, "Designed")["message"]
    assert node.spec().desired_revision is None and node.loads == []
    revisions = scene.custom.list_cluster_custom_object(GROUP, VERSION, "schedulerrevisions")["items"]
    assert not [r for r in revisions if r["spec"].get("policyRef", {}).get("namespace") == scene.namespace]


def planned(delay_seconds: float = 0) -> Turn:
    return Turn(delay_seconds=delay_seconds, reply=Reply(tool_calls=[
        call("decide_plan", action="configure", template="latency-class", reason="protects the web cgroups")]))


def executed() -> Turn:
    return Turn(reply=Reply(tool_calls=[call("propose_configuration", template="latency-class", tunables={}),
                                        call("run_verifier"), call("finish", rationale="latency class for web")]))


def test_operator_killed_in_each_phase_ends_active_without_designing_twice(scene, operator, messages_api) -> None:
    """Killed as soon as each phase shows; each successor resumes from the status. The
    server serves each scripted reply once: a repeated design would find no script."""
    messages_api.script(observed(), planned(), executed())
    scene.node()
    scene.node()
    scene.apply(claude_policy("web"))
    killed = []
    for phase in ("Profiling", "Verifying", "Canary", "RollingOut"):
        victim = operator(env=claude_env(messages_api))
        scene.wait_phase("web", phase, victim)
        victim.kill()
        killed.append(phase)
    final = operator(env=claude_env(messages_api))
    body = scene.wait_phase("web", "Active", final)
    messages_api.assert_done()
    assert len(messages_api.requests) == 3, [r.body.get("messages", [{}])[0] for r in messages_api.requests]
    assert body["status"]["cost"]["calls"] == 3
    assert body["status"]["nodes"]["active"] == 2
    assert killed == ["Profiling", "Verifying", "Canary", "RollingOut"]



def test_an_operator_killed_mid_design_resumes_from_the_journal(scene, operator, messages_api) -> None:
    """The observation call was answered before the kill, the planning call was in flight:
    the successor replays the first from the design journal and sends only the second again."""
    messages_api.script(observed(), planned(delay_seconds=30), planned(), executed())
    scene.node()
    scene.apply(claude_policy("web"))
    victim = operator(env=claude_env(messages_api))
    wait_until(lambda: len(messages_api.requests) >= 2, 240, "the planning call in flight", victim.recent)
    victim.kill()
    journal = client.CoreV1Api(scene.api).read_namespaced_config_map(journal_name(scene.namespace, "web"), scene.namespace)
    assert "profile.json" in journal.data and sum(k.startswith("exchange-") for k in journal.data) == 1
    successor = operator(env=claude_env(messages_api))
    body = scene.wait_phase("web", "Active", successor)
    messages_api.assert_done()
    observations = [r for r in messages_api.requests if "describe_workload" in {t["name"] for t in r.body["tools"]}]
    assert len(observations) == 1
    assert len(messages_api.requests) == 4
    assert body["status"]["cost"]["calls"] == 3
    with pytest.raises(client.ApiException):
        client.CoreV1Api(scene.api).read_namespaced_config_map(journal_name(scene.namespace, "web"), scene.namespace)
