"""Designs run beside the reconcile path, each a process the operator can stop: other
policies go on while one designs, a deleted policy's design stops at once (its VM too),
and a design cut short by a killed operator resumes from its journal.

The designing policy uses the Claude loop against the scripted Messages API, its
candidate a latency-class configuration no earlier run has verified (a random batch
slice), so its verification boots a micro-VM that the tests can see and stop.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp_cli.components import wait_until
from schedcp_operator.design.journal import journal_name
from tests.messages_api.server import Reply, Turn, call
from tests.operator.test_rollout import PLURAL, claude_env, observed, operator, planned, policy_body, scene  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.cluster, pytest.mark.vm]


def team_policy(team: str, **spec: Any) -> dict[str, Any]:
    return policy_body(team, podSelector={"matchLabels": {"team": team}}, **spec)


def team_node(scene, team: str):  # noqa: F811 (the fixture)
    node = scene.node(labels=())
    for app in ("web", "batch"):
        node.add_pod(scene.namespace, f"{team}-{app}", {"app": app, "team": team})
    return node


def unverified_configuration() -> dict[str, Any]:
    return call("propose_configuration", template="latency-class",
                tunables={"batch_slice_us": random.choice([v for v in range(18_000, 22_001) if v != 20_000])})


def descendants(pid: int) -> dict[int, str]:
    """pid -> command name of every process below `pid`."""
    children: dict[int, list[int]] = {}
    names = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        me, parent = int(stat.parent.name), int(text[text.rindex(")") + 2:].split()[1])
        children.setdefault(parent, []).append(me)
        names[me] = name
    found, todo = {}, list(children.get(pid, []))
    while todo:
        current = todo.pop()
        found[current] = names[current]
        todo += children.get(current, [])
    return found


def vms(pid: int) -> dict[int, str]:
    return {p: name for p, name in descendants(pid).items() if name.startswith("qemu")}


def alive(pids: set[int]) -> set[int]:
    return {p for p in pids if Path(f"/proc/{p}").exists() and "Z" not in _state(p)}


def _state(pid: int) -> str:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "Z"
    return text[text.rindex(")") + 2:].split()[0]


def designed_message(scene, name: str) -> str:  # noqa: F811 (the fixture)
    conditions = scene.policy(name).get("status", {}).get("conditions", [])
    return next((c["message"] for c in conditions if c["type"] == "Designed"), "")


def test_a_design_in_its_vm_holds_up_no_other_policy_and_stops_when_its_policy_goes(
        scene, operator, messages_api) -> None:  # noqa: F811 (fixtures)
    messages_api.script(
        observed(), planned(),
        Turn(reply=Reply(tool_calls=[unverified_configuration(), call("run_verifier")])),
        # Were the boot over before the test deletes the policy, the design waits here.
        Turn(delay_seconds=600, reply=Reply(tool_calls=[call("finish", rationale="late")])),
    )
    team_node(scene, "a")
    b_node, c_node = team_node(scene, "b"), team_node(scene, "c")
    op = operator(env=claude_env(messages_api))
    scene.apply(team_policy("a", designer={"kind": "claude"}))
    booting = wait_until(lambda: vms(op.process.pid), 300, "policy a's verification boot", op.recent)
    design_processes = set(descendants(op.process.pid))
    scene.wait_condition("a", "Designed", op, status="False", timeout=30)
    wait_until(lambda: "verifying latency-class" in designed_message(scene, "a"), 30, "the boot in a's status", op.recent)

    scene.apply(team_policy("b"))
    scene.apply(team_policy("c"))
    scene.wait_phase("b", "Active", op, timeout=600)
    scene.wait_phase("c", "Active", op, timeout=600)
    assert scene.policy("a")["status"]["phase"] == "Designing"
    scene.custom.delete_namespaced_custom_object(GROUP, VERSION, scene.namespace, PLURAL, "c")
    wait_until(lambda: not scene.policy("c"), 60, "policy c released", op.recent)
    assert c_node.spec().desired_revision is None and b_node.spec().policy_ref.name == "b"
    assert "Designing" in scene.events("a")

    scene.custom.delete_namespaced_custom_object(GROUP, VERSION, scene.namespace, PLURAL, "a")
    wait_until(lambda: not scene.policy("a"), 20, "policy a gone", op.recent)
    wait_until(lambda: not alive(design_processes), 10, "a's design process and VM stopped", op.recent)
    assert set(booting) <= design_processes
    assert op.alive() and scene.policy("b")["status"]["phase"] == "Active"


def test_an_operator_killed_mid_design_leaves_no_vm_and_its_successor_resumes_from_the_journal(
        scene, operator, messages_api) -> None:  # noqa: F811 (fixtures)
    messages_api.script(observed(), planned(), Turn(reply=Reply(tool_calls=[
        unverified_configuration(), call("run_verifier"), call("finish", rationale="latency class for web")])))
    team_node(scene, "a")
    victim = operator(env=claude_env(messages_api))
    scene.apply(team_policy("a", designer={"kind": "claude"}, mode="Recommend"))
    wait_until(lambda: vms(victim.process.pid), 300, "the verification boot", victim.recent)
    design_processes = set(descendants(victim.process.pid))
    victim.kill()
    wait_until(lambda: not alive(design_processes), 10, "the design's process and VM gone with the operator")
    journal = client.CoreV1Api(scene.api).read_namespaced_config_map(journal_name(scene.namespace, "a"), scene.namespace)
    assert sum(k.startswith("exchange-") for k in journal.data) == 3

    successor = operator(env=claude_env(messages_api))
    body = scene.wait_phase("a", "Recommended", successor, timeout=900)
    messages_api.assert_done()
    assert len(messages_api.requests) == 3, "an answered call was sent again"
    assert body["status"]["cost"]["calls"] == 3
    assert not vms(successor.process.pid)
