"""The applier against a real sched_ext kernel: the micro-VM runs the host's own code.

One boot: the guest mounts the host's tree read-only (virtio-9p) and runs
vm_applier_scenario.py twice, the second process standing for a restarted agent.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from schedcp.building import compile_scheduler
from schedcp.provisioning.kernel import provision_kernel
from schedcp.templates import builtin_templates
from tests.nodeagent.vm_scenarios import AGENT, run_scenario
from tests.verifying.conftest import BAD

pytestmark = pytest.mark.vm

REPO = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).with_name("vm_applier_scenario.py")

GUEST = """
""" + AGENT + """agent first
agent second
report "{{\\"event\\":\\"after-restart\\",\\"state\\":\\"$(cat /sys/kernel/sched_ext/state)\\",\\"ops\\":\\"$(cat /sys/kernel/sched_ext/root/ops 2>/dev/null)\\"}}"
agent crash-looping
agent restarted
report "{{\\"event\\":\\"final\\",\\"state\\":\\"$(cat /sys/kernel/sched_ext/state)\\",\\"ops\\":\\"$(cat /sys/kernel/sched_ext/root/ops 2>/dev/null)\\"}}"
"""


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    kernel = provision_kernel()
    work = tmp_path_factory.mktemp("objects")
    templates = builtin_templates()
    sources = {
        "fifo": (templates["fifo"].source(), templates["fifo"].defaults()),
        "latency-class": (templates["latency-class"].source(), templates["latency-class"].defaults()),
        "stalling": ((BAD / "never_dispatch.bpf.c").read_text(), {}),
        "bad-memory": ((BAD / "bad_memory.bpf.c").read_text(), {}),
    }
    files = {}
    for name, (source, tunables) in sources.items():
        built = compile_scheduler(source, tunables, kernel.vmlinux_h, work / name)
        files[f"objects/{name}.bpf.o"] = built.path
    script = GUEST.format(repo=REPO, python=sys.executable, scenario=SCENARIO, extra="")
    # A loaded 2-core host stretches this boot past 300 s (TCG).
    found = run_scenario("applier scenario", script, files, kernel, timeout=480)
    return found | {"kernel": kernel.model_dump(mode="json")}


def test_loads_the_revision_the_spec_names(events) -> None:
    loaded = events["load-fifo"]
    assert loaded["verdict"]["reason"] == "Loaded"
    assert loaded["active"]["state"] == "enabled"
    assert loaded["active"]["ops"] == "schedcp_fifo"
    assert loaded["active"]["revision"]["name"] == "fifo"


def test_switches_revisions_and_fills_the_class_map(events) -> None:
    assert events["switch-latency-class"]["active"]["ops"] == "schedcp_latency"
    classes = events["classes"]
    key = classes["cgroup_id"].to_bytes(8, "little").hex()
    assert classes["entries"] == {key: "01000000"}


def test_refuses_an_object_whose_digest_differs(events) -> None:
    refused = events["digest-mismatch"]
    assert refused["verdict"]["status"] == "False"
    assert refused["verdict"]["reason"] == "DigestMismatch"
    assert refused["active"]["ops"] == "schedcp_latency", "the running scheduler must stay"


def test_stall_is_detected_and_reverted_to_last_known_good(events) -> None:
    assert events["promote"]["verdict"]["reason"] == "Loaded"
    ejected = events["ejected"]
    reasons = {n["reason"] for n in ejected["notices"]}
    assert {"SchedulerEjected", "RevertedToLastKnownGood"} <= reasons, ejected["notices"]
    record = ejected["memory"]["ejected"]["stalling"]
    assert "stall" in record["reason"], record
    assert ejected["active"]["ops"] == "schedcp_latency"
    assert ejected["active"]["revision"]["name"] == "latency-class"
    assert events["ejected-stays-out"]["verdict"]["reason"] == "RevisionEjected"
    print(f"\nstalling revision: load to known-good restored {ejected['seconds']}s, "
          f"kernel ejection to restored {ejected['since_kernel_exit']}s")


def test_restarted_agent_re_adopts_the_healthy_scheduler(events) -> None:
    adopted = events["adopted"]
    assert "SchedulerAdopted" in {n["reason"] for n in adopted["notices"]}
    assert adopted["active"]["revision"]["name"] == "latency-class"
    assert adopted["active"]["enable_seq"] == adopted["before"]["enable_seq"], "adoption must not reload"
    assert events["after-restart"] == {"event": "after-restart", "state": "enabled", "ops": "schedcp_latency"}


def test_a_crash_looping_agent_falls_back_to_last_known_good(events) -> None:
    assert events["load-before-crash-loop"]["active"]["ops"] == "schedcp_fifo"
    reasons = [n["reason"] for n in events["crash-loop"]["notices"]]
    assert reasons[:2] == ["SchedulerEjected", "RevertedToLastKnownGood"], events["crash-loop"]["notices"]
    assert re.search(r"the agent started [3-9] times in 120s", events["crash-loop"]["notices"][0]["message"])
    assert events["final"] == {"event": "final", "state": "enabled", "ops": "schedcp_latency"}


def test_an_object_the_nodes_kernel_refuses_fails_its_preflight_and_is_never_attached(events) -> None:
    refused = events["preflight-refused"]
    assert (refused["verdict"]["status"], refused["verdict"]["reason"]) == ("False", "PreflightFailed")
    assert refused["active"]["ops"] == "schedcp_latency", "the running scheduler must stay"
    assert refused["active"]["revision"]["name"] == "latency-class"
    preflight = events["preflight"]
    record = preflight["preflight"]
    assert record["revision"]["name"] == "bad-memory" and record["passed"] is False
    # The decisive line, in the message the operator's Event carries: 7.x "invalid dereference", 6.x "invalid mem access".
    assert re.search(r"invalid (dereference|mem access)", record["message"]), record
    assert re.search(r"invalid (dereference|mem access)", record["log"]), record
    assert "PreflightFailed" in {n["reason"] for n in preflight["notices"]}
    assert preflight["pins"] == ["latency-class"], "the preflight leaves no pin behind"


def test_the_node_reports_the_btf_digest_the_verifier_computes_from_the_debian_kernel(events) -> None:
    facts, kernel = events["preflight"]["facts"], events["kernel"]
    assert facts["release"] == kernel["release"]
    assert facts["btf_sha256"] == kernel["btf_sha256"]
