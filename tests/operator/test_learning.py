"""The repository learns from production: each revision's verdict goes into its template's
history once, and the next design on a similar workload uses it.

The operator's steps run in this process as the operator runs them (`take_step` on the
policy as the API server has it, the design's process run in place), against the real API
server with simulated nodes (a revision makes the web pods' latency better or worse). The
verifier's performance gate is stubbed with reports of the gate's own making that pass
every candidate, pinned to the digest of the object the publisher rebuilds (clang, no
micro-VM): the subject is what the lifecycle learns, not the verdicts of the gate
(tests/verifying) nor the canary's (test_rollout). A new `Lifecycle` is what a restarted
operator has: nothing in memory, only the API server's objects.
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp.api.v1alpha1.kinds import SCHEDULER_TEMPLATE
from schedcp.api.v1alpha1.policy import Phase, Reason, SchedulerPolicyStatus
from schedcp.api.v1alpha1.revision import VerificationReport
from schedcp.building import compile_scheduler
from schedcp.provisioning.kernel import provision_kernel
from schedcp.verifying.performance import PerformanceGoal
from schedcp_cli.components import wait_until
from schedcp_operator.design import tools
from schedcp_operator.design.roles import EXECUTION, LEARNING, PLANNING
from schedcp_operator.lifecycle import Event, Lifecycle, Settings
from schedcp_operator.policy_steps import read_policy, take_step
from schedcp_operator.policy_view import PolicyView
from schedcp_operator.revisions import revision_name
from tests.design.gate_stub import gated_report
from tests.design.test_claude_loop import SYNTHESIZED, observation_turn
from tests.messages_api.server import Expect, Reply, Turn, call
from tests.operator.simulated_nodes import Behaviour, SimulatedNode
from tests.operator.test_no_improvement import design
from tests.operator.test_rollout import PLURAL, Scene, policy_body

pytestmark = pytest.mark.cluster

SETTLE_SECONDS = 2.0
SIGNATURE = "latency+latency-sensitive+mixed-load"  # the simulated web and batch pods


def object_digest(source: str, tunables: dict[str, int]) -> str:
    with tempfile.TemporaryDirectory(prefix="schedcp-test-") as tmp:
        return compile_scheduler(source, tunables, provision_kernel().vmlinux_h, Path(tmp)).sha256


def better_than_eevdf(source: str, tunables: dict[str, int], dynamic: bool = True,
                      goal: PerformanceGoal | None = None) -> VerificationReport:
    return gated_report([300.0, 310.0, 340.0], object_digest(source, tunables))


class Driver:
    """The operator's steps on one namespace's policies, and the Events they would post."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api, self.namespace = api, namespace
        self.custom = client.CustomObjectsApi(api)
        self.events: dict[str, list[Event]] = defaultdict(list)
        self.restart()

    def restart(self) -> None:
        self.lifecycle = Lifecycle(self.api, Settings(artifacts_namespace=self.namespace, settle_seconds=SETTLE_SECONDS))

    def apply(self, body: dict[str, Any]) -> None:
        """As the operator's create handler leaves it: accepted, Pending."""
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)
        self.custom.patch_namespaced_custom_object_status(GROUP, VERSION, self.namespace, PLURAL, body["metadata"]["name"],
                                                          {"status": {"phase": Phase.PENDING.value}})

    def read(self, name: str) -> dict[str, Any]:
        obj = read_policy(self.api, self.namespace, name)
        assert obj is not None
        return obj

    def step(self, name: str) -> SchedulerPolicyStatus:
        obj = self.read(name)
        view = PolicyView.of(obj)
        if view.status.phase == Phase.DESIGNING:
            design(self.lifecycle, view)
        taken = take_step(self.lifecycle, obj)
        assert taken is not None
        self.events[name] += taken.events
        return PolicyView.of(self.read(name)).status

    def until(self, name: str, done: Callable[[SchedulerPolicyStatus], bool], timeout: float = 120) -> SchedulerPolicyStatus:
        deadline = time.monotonic() + timeout
        while not done(status := self.step(name)):
            assert time.monotonic() < deadline, f"{name} still {status.phase}: {status.conditions}"
            time.sleep(0.3)
        return status

    def template(self, name: str) -> dict[str, Any]:
        return self.custom.get_cluster_custom_object(GROUP, VERSION, SCHEDULER_TEMPLATE.plural, name)

    def history(self, template: str, revision: str) -> list[dict[str, Any]]:
        return [h for h in (self.template(template).get("status") or {}).get("history", []) if h["revision"] == revision]


def recorded(status: SchedulerPolicyStatus) -> bool:
    return status.outcome is not None and status.outcome.recorded


@pytest.fixture
def driver(kube_cluster, namespace, crds_installed, monkeypatch) -> Iterator[Driver]:
    monkeypatch.setattr(tools, "verify_remembered", better_than_eevdf)
    # The lesson's process (lesson_task.py) finds the cluster as the operator's own would.
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    yield Driver(kube_cluster.api_client(), namespace)


@pytest.fixture
def nodes(kube_cluster, namespace) -> Iterator[Callable[..., SimulatedNode]]:
    made: list[SimulatedNode] = []

    def node(suffix: str, behaviour: Behaviour | None = None) -> SimulatedNode:
        made.append(SimulatedNode(kube_cluster.api_client(), f"{namespace}-{suffix}", behaviour))
        for app in ("web", "batch"):
            made[-1].add_pod(namespace, f"{app}-{suffix}", {"app": app})
        return made[-1]

    yield node
    for n in made:
        n.close()


def on(node: SimulatedNode, name: str, **spec: Any) -> dict[str, Any]:
    """A policy for the web and batch pods of one node: each test's workloads are alike, apart."""
    return policy_body(name, nodeSelector={"kubernetes.io/hostname": node.name}, **spec)


def test_a_canary_that_regressed_is_an_anti_pattern_the_next_similar_workload_avoids(driver, nodes) -> None:
    first, second = nodes("a", Behaviour(effect="worse")), nodes("b")
    driver.apply(on(first, "a"))
    a = driver.until("a", recorded)
    assert a.phase == Phase.ROLLED_BACK and a.outcome is not None and a.revision is not None
    assert (a.outcome.outcome, a.outcome.template) == ("Regressed", "latency-class")
    [entry] = driver.history("latency-class", a.revision.name)
    assert entry["outcome"] == "Regressed" and entry["workloadSignature"] == SIGNATURE
    assert entry["policy"] == {"name": "a", "namespace": driver.namespace}
    assert entry["before"]["runDelayP99Micros"] == 4000 and entry["after"]["runDelayP99Micros"] == 12_000
    assert "limits: 5% worse for the protected pods" in entry["note"], entry["note"]
    assert entry["tunables"] == {"latency_slice_us": 1000, "batch_slice_us": 20_000, "preempt": 1}
    assert [e.reason for e in driver.events["a"]].count(Reason.OUTCOME_RECORDED) == 1

    driver.apply(on(second, "b"))
    b = driver.until("b", lambda s: s.phase == Phase.ACTIVE)
    assert b.revision is not None and b.revision.template not in (None, "latency-class")
    designing = next(e for e in driver.events["b"] if e.reason == Reason.DESIGNING)
    assert "latency-class [batch_slice_us=20000,latency_slice_us=1000,preempt=1] on " \
           f"{SIGNATURE}: Regressed" in designing.message, designing.message
    assert "anti-pattern" in b.revision.rationale and "avoided latency-class" in b.revision.rationale


def hit(template: str, revision: str) -> list[Turn]:
    """A design that configures `template` (3 calls), then the learning role's lesson on its revision."""
    return [
        observation_turn(),
        Turn(expect=Expect(tools=set(PLANNING.tools), user_contains=template),
             reply=Reply(tool_calls=[call("decide_plan", action="configure", template=template,
                                          reason="it improved a workload like this one")])),
        Turn(expect=Expect(tools=set(EXECUTION.tools)),
             reply=Reply(tool_calls=[call("propose_configuration", template=template), call("run_verifier"),
                                     call("finish", rationale="proven on a similar workload")])),
        lesson(template, revision, "Reused for a similar workload: improved again."),
    ]


def lesson(template: str, revision: str, note: str) -> Turn:
    return Turn(expect=Expect(tools=set(LEARNING.tools), user_contains="Improved"),
                reply=Reply(tool_calls=[call("record_outcome", template=template, revision=revision,
                                             outcome="Improved", note=note)]))


@pytest.mark.parametrize(("designer", "calls"), [("offline", 0), ("claude", 3)])
def test_a_generated_scheduler_that_improved_is_promoted_and_chosen_for_the_next_similar_workload(
        driver, nodes, messages_api, monkeypatch, designer, calls) -> None:
    """C's design (Claude) synthesizes; D's is a repository hit on the promoted template."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", messages_api.url)
    first, second = nodes("c"), nodes("d")
    digest = object_digest(SYNTHESIZED, {})
    generated = revision_name("c", digest)
    promoted = f"generated-{generated}"
    messages_api.script(
        observation_turn(),
        Turn(expect=Expect(tools=set(PLANNING.tools)),
             reply=Reply(tool_calls=[call("decide_plan", action="synthesize", reason="a short-slice global queue")])),
        Turn(expect=Expect(tools=set(EXECUTION.tools)),
             reply=Reply(tool_calls=[call("submit_source", source=SYNTHESIZED), call("run_verifier"),
                                     call("finish", rationale="a short-slice global queue for the web pods")])),
        lesson(promoted, generated, "A short global slice cut web p99 five-fold next to batch."),
        *(hit(promoted, revision_name("d", digest)) if designer == "claude" else []),
    )
    driver.apply(on(first, "c", designer={"kind": "claude"}))
    c = driver.until("c", recorded, timeout=180)
    assert c.phase == Phase.ACTIVE and c.revision is not None and c.revision.name == generated
    assert c.revision.template is None and c.outcome is not None
    assert (c.outcome.outcome, c.outcome.promoted, c.outcome.template) == ("Improved", promoted, promoted)
    assert c.outcome.lesson == "A short global slice cut web p99 five-fold next to batch."
    template = driver.template(promoted)
    assert template["spec"]["origin"] == "Generated" and template["spec"]["source"]["code"] == SYNTHESIZED
    provenance = template["spec"]["provenance"]
    assert provenance["policy"] == {"name": "c", "namespace": driver.namespace} and provenance["revision"] == generated
    assert provenance["before"]["runDelayP99Micros"] == 4000 and provenance["after"]["runDelayP99Micros"] == 800
    assert [e.reason for e in driver.events["c"]].count(Reason.PROMOTED) == 1

    before = len(messages_api.requests)
    driver.apply(on(second, "d", designer={"kind": designer}))
    d = driver.until("d", recorded, timeout=180)
    messages_api.assert_done()
    assert d.revision is not None and d.revision.template == promoted
    assert d.cost is not None and d.cost.calls == calls
    assert len(messages_api.requests) - before == calls + (1 if designer == "claude" else 0)  # and the lesson
    if designer == "offline":
        assert "the repository's history" in d.revision.rationale
    assert d.outcome is not None and (d.outcome.outcome, d.outcome.promoted) == ("Improved", None)
    history = (driver.template(promoted).get("status") or {})["history"]
    assert [(h["policy"]["name"], h["outcome"]) for h in history] == [("c", "Improved"), ("d", "Improved")]
    assert history[0]["note"].startswith("A short global slice") and "[measured: after 2s Active" in history[0]["note"]


def test_an_operator_restarted_between_active_and_settling_records_the_outcome_once(driver, nodes) -> None:
    node = nodes("e")
    driver.apply(on(node, "e"))
    e = driver.until("e", lambda s: s.phase == Phase.ACTIVE)
    assert e.outcome is None and e.revision is not None
    revision = e.revision.name
    driver.restart()
    time.sleep(SETTLE_SECONDS)
    # An operator that recorded the outcome in the template and died before its status write:
    # the step's status is never written.
    view = PolicyView.of(driver.read("e"))
    lost, _ = driver.lifecycle.step(view, lambda status: None)
    assert lost.outcome is not None and lost.outcome.recorded
    assert len(driver.history("latency-class", revision)) == 1
    assert PolicyView.of(driver.read("e")).status.outcome is None
    driver.restart()
    e = driver.until("e", recorded)
    for _ in range(3):
        driver.step("e")
    [entry] = driver.history("latency-class", revision)
    assert entry["outcome"] == "Improved" and entry["after"]["runDelayP99Micros"] == 800


@pytest.mark.vm  # the real verifier, as in test_rollout (its reports are remembered: no boot when they ran)
def test_the_operator_process_killed_between_active_and_settling_records_the_outcome_once(
        kube_cluster, namespace, start_operator) -> None:
    scene = Scene(kube_cluster, namespace)
    try:
        _killed_between_active_and_settling(scene, start_operator)
    finally:
        scene.close()


def _killed_between_active_and_settling(scene: Scene, start_operator: Callable[..., Any]) -> None:
    node = scene.node()
    # Not "web": revisions are cluster-wide and named for the policy and the object, so a
    # "web" here would be the revision test_rollout's "web" expects to create for itself.
    args = ("--standalone", "--artifacts-namespace", scene.namespace, "--settle-seconds", "15")
    victim = start_operator(*args)
    scene.apply(policy_body("settling", nodeSelector={"kubernetes.io/hostname": node.name}))
    body = scene.wait_phase("settling", "Active", victim)
    victim.kill()
    assert "outcome" not in body["status"]
    successor = start_operator(*args)
    revision = body["status"]["revision"]["name"]
    wait_until(lambda: (scene.policy("settling")["status"].get("outcome") or {}).get("recorded"), 120,
               "the outcome recorded", successor.recent)
    time.sleep(3 * 2.0)  # more steps: nothing more is recorded
    history = scene.custom.get_cluster_custom_object(GROUP, VERSION, SCHEDULER_TEMPLATE.plural, "latency-class")
    entries = [h for h in history["status"]["history"] if h["revision"] == revision]
    assert [h["outcome"] for h in entries] == ["Improved"]
    assert scene.events("settling").count("OutcomeRecorded") == 1
