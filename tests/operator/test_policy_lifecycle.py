"""SchedulerPolicy against the real API server, with the operator as a real process."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
import yaml

from schedcp_cli.components import wait_until
from tests.conftest import REPO

pytestmark = pytest.mark.cluster

EXAMPLE = REPO / "examples" / "latency-web.yaml"


def example(name: str = "latency-web", **spec_overrides) -> dict:
    body = yaml.safe_load(EXAMPLE.read_text())
    body["metadata"]["name"] = name
    body["spec"].update(spec_overrides)
    return body


def apply(kube_cluster, namespace: str, body: dict, tmp_path: Path, check: bool = True):
    path = tmp_path / f"{body['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(body))
    return kube_cluster.kubectl("apply", "-n", namespace, "-f", str(path), check=check)


def policy(kube_cluster, namespace: str, name: str) -> dict:
    result = kube_cluster.kubectl("get", "schedulerpolicy", name, "-n", namespace, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def conditions(body: dict) -> dict[str, dict]:
    return {c["type"]: c for c in body.get("status", {}).get("conditions", [])}


def events(kube_cluster, namespace: str, name: str, reason: str) -> list[dict]:
    listed = kube_cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}", "-o", "json"
    )
    return [e for e in json.loads(listed.stdout)["items"] if e["reason"] == reason]


def settled(kube_cluster, namespace: str, name: str, operator, phase: str | None = None) -> dict:
    """Wait until the operator has assessed the current generation and the lifecycle has
    taken its first step (or reached `phase`), and return the object."""

    def assessed():
        body = policy(kube_cluster, namespace, name)
        status = body.get("status", {})
        done = body and status.get("observedGeneration") == body["metadata"]["generation"]
        moved = status.get("phase") == phase if phase else status.get("phase") not in (None, "Pending")
        return body if done and moved and "Ready" in conditions(body) else None

    # The wait includes the operator's start (imports, the first list and watch): 40 s
    # and more on a loaded 2-core host. The allowance costs nothing when it is faster.
    return wait_until(assessed, 180, f"policy {name} assessed", operator.recent)


def test_kubectl_get_shows_phase_and_ready_condition_set_by_the_operator(
    kube_cluster, namespace, start_operator, tmp_path
) -> None:
    operator = start_operator("--standalone")
    apply(kube_cluster, namespace, example(), tmp_path)
    body = settled(kube_cluster, namespace, "latency-web", operator)
    assert body["status"]["phase"] == "Profiling"
    assert conditions(body)["Accepted"]["status"] == "True"

    def table() -> list[list[str]] | None:
        rows = [line.split() for line in kube_cluster.kubectl("get", "schedulerpolicies", "-n", namespace).stdout.splitlines()]
        return rows if rows[1][4] == "NoPodsSelected" else None

    header, row = wait_until(table, 30, "the profiling step's reason", operator.recent)[:2]
    assert header[:5] == ["NAME", "MODE", "PHASE", "READY", "REASON"]
    assert row[:5] == ["latency-web", "Recommend", "Profiling", "False", "NoPodsSelected"]
    accepted = wait_until(lambda: events(kube_cluster, namespace, "latency-web", "Accepted"), 30, "event", operator.recent)
    assert accepted[0]["type"] == "Normal"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"mode": "Sometimes"}, "spec.mode"),
        ({"designer": {"kind": "offline", "budget": {"maxCalls": -1}}}, "spec.designer.budget.maxCalls"),
        ({"designer": {"kind": "offline", "budget": {"maxCostUsd": "-0.5"}}}, "spec.designer.budget.maxCostUsd"),
        ({"goal": "x" * 2001}, "spec.goal"),
        ({"designer": {"kind": "gpt"}}, "spec.designer.kind"),
        (
            {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]}},
            "spec.podSelector.matchExpressions[0]",
        ),
        ({"podSelector": {"matchLabels": {"bad key!": "web"}}}, "spec.podSelector.matchLabels"),
        ({"approvedRevision": "rev-1", "mode": "Auto"}, "spec.approvedRevision"),
    ],
)
def test_schema_violations_are_refused_with_the_field_named(
    kube_cluster, namespace, crds_installed, tmp_path, overrides, field
) -> None:
    result = apply(kube_cluster, namespace, example(**overrides), tmp_path, check=False)
    assert result.returncode != 0
    assert field in result.stderr, result.stderr


def test_meaningless_spec_gets_a_false_condition_and_an_event_and_the_operator_goes_on(
    kube_cluster, namespace, start_operator, tmp_path
) -> None:
    operator = start_operator("--standalone")
    contradictory = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}],
    }
    apply(kube_cluster, namespace, example("nothing", podSelector=contradictory), tmp_path)
    body = settled(kube_cluster, namespace, "nothing", operator)
    assert body["status"]["phase"] == "Invalid"
    accepted = conditions(body)["Accepted"]
    assert (accepted["status"], accepted["reason"]) == ("False", "UnsatisfiableSelector")
    assert "app" in accepted["message"]

    event = wait_until(
        lambda: events(kube_cluster, namespace, "nothing", "UnsatisfiableSelector"), 30, "event", operator.recent
    )[0]
    assert event["type"] == "Warning"
    apply(kube_cluster, namespace, example("fine"), tmp_path)
    assert settled(kube_cluster, namespace, "fine", operator)["status"]["phase"] == "Profiling"
    assert operator.alive()


def test_spec_update_is_reassessed_under_the_new_generation(kube_cluster, namespace, start_operator, tmp_path) -> None:
    operator = start_operator("--standalone")
    apply(kube_cluster, namespace, example(), tmp_path)
    first = settled(kube_cluster, namespace, "latency-web", operator)
    apply(kube_cluster, namespace, example(mode="Off"), tmp_path)
    second = settled(kube_cluster, namespace, "latency-web", operator, phase="Disabled")
    assert second["status"]["observedGeneration"] == first["status"]["observedGeneration"] + 1


def test_operator_killed_mid_reconcile_converges_to_the_same_status(
    kube_cluster, namespace, start_operator, tmp_path
) -> None:
    reference = start_operator("--standalone", name="reference")
    apply(kube_cluster, namespace, example("reference"), tmp_path)
    expected = settled(kube_cluster, namespace, "reference", reference)["status"]
    reference.stop()

    victim = start_operator("--standalone", name="victim")
    apply(kube_cluster, namespace, example("interrupted"), tmp_path)
    victim.wait_for_message("reconciling generation 1")
    victim.kill()
    successor = start_operator("--standalone", name="successor")
    converged = settled(kube_cluster, namespace, "interrupted", successor)["status"]

    def essence(status: dict) -> dict:
        return {
            "phase": status["phase"],
            "observedGeneration": status["observedGeneration"],
            "conditions": {t: (c["status"], c["reason"], c["message"]) for t, c in conditions({"status": status}).items()},
        }

    assert essence(converged) == essence(expected)


def test_deleting_a_policy_removes_the_finalizer_and_the_object(
    kube_cluster, namespace, start_operator, tmp_path
) -> None:
    operator = start_operator("--standalone")
    apply(kube_cluster, namespace, example(), tmp_path)
    body = settled(kube_cluster, namespace, "latency-web", operator)
    assert "schedcp.io/finalizer" in body["metadata"]["finalizers"]
    kube_cluster.kubectl("delete", "schedulerpolicy", "latency-web", "-n", namespace, "--wait=false")
    wait_until(lambda: not policy(kube_cluster, namespace, "latency-web"), 60, "policy gone", operator.recent)


def peer_priorities(kube_cluster) -> set[int]:
    result = kube_cluster.kubectl("get", "clusterkopfpeering", "schedcp-operator", "-o", "json", check=False)
    peers = json.loads(result.stdout).get("status", {}) if result.returncode == 0 else {}
    return {peer.get("priority") for peer in peers.values() if isinstance(peer, dict)}


def test_two_replicas_never_both_act_and_the_survivor_takes_over(
    kube_cluster, namespace, start_operator, tmp_path
) -> None:
    leader = start_operator("--priority", "200", "--verbose", name="leader")
    wait_until(lambda: 200 in peer_priorities(kube_cluster), 60, "leader in the peering object", leader.recent)
    follower = start_operator("--priority", "100", "--verbose", name="follower")
    follower.wait_for_message("Pausing the watch-stream for schedulerpolicies")
    apply(kube_cluster, namespace, example("first"), tmp_path)
    settled(kube_cluster, namespace, "first", leader)
    assert not any("reconciling" in m for m in follower.messages())

    leader.kill()
    apply(kube_cluster, namespace, example("second"), tmp_path)
    settled(kube_cluster, namespace, "second", follower)
    assert any("reconciling" in m for m in follower.messages())


def test_liveness_endpoint_answers(start_operator) -> None:
    operator = start_operator("--standalone")

    def healthy():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{operator.liveness_port}/healthz", timeout=2) as reply:
                return reply.status == 200
        except OSError:
            return False

    wait_until(healthy, 30, "liveness endpoint", operator.recent)
