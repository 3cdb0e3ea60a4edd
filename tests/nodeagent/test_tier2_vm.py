"""Tier-2 (BCC) profiling for real: the sched_ext VM kernel, its own headers, trixie's BCC.

One boot: the guest runs the agent's PodProfiles from the host tree, with the collector
chrooted into the cached BCC root (python3-bpfcc and the kernel's headers package).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from schedcp.microvm.runner import run_script
from schedcp.provisioning.bcc_root import bcc_root
from schedcp.provisioning.kernel import provision_kernel

pytestmark = pytest.mark.vm

REPO = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).with_name("vm_tier2_scenario.py")

GUEST = """
prepare_root /host{bcc_root}
in_host sh -c "cd {repo} && PYTHONDONTWRITEBYTECODE=1 {python} {scenario} {bcc_root}" > /tmp/scenario.log 2>&1
report "{{\\"event\\":\\"exit\\",\\"rc\\":$?,\\"log\\":\\"$(tail -n 15 /tmp/scenario.log | tr '\\n\\"\\\\' '   ')\\"}}"
"""


@pytest.fixture(scope="module")
def events() -> dict[str, dict]:
    kernel = provision_kernel()
    root = bcc_root(kernel)
    script = GUEST.format(bcc_root=root, repo=REPO, python=sys.executable, scenario=SCENARIO)
    result = run_script(script, share_host=True, timeout=420, memory_mb=2048, kernel=kernel)
    print(f"\ntier-2 scenario: one boot, {result.seconds}s ({result.accelerator})")
    assert result.finished, result.console[-3000:]
    assert result.events("exit")[0]["rc"] == 0, result.events("exit")[0]["log"]
    return {r["event"]: r for r in result.reports}


def test_bcc_collector_compiles_against_the_vm_kernel_headers(events) -> None:
    ready = events["tier2-ready"]
    assert ready["ready"], ready["failure"]
    assert ready["tier"] == "tier2-ebpf"
    print(f"\nBCC compile and attach under {ready['seconds']}s")


def test_tier2_tells_the_waking_pod_from_the_spinning_one(events) -> None:
    profiles = events["profiles"]
    assert profiles["tier"] == "tier2-ebpf", profiles["reason"]
    waker, spinner = profiles["pods"]["waker"], profiles["pods"]["spinner"]
    # A relation, not a rate: a loaded host's TCG guest gave the waker 48.5 wakeups/s once.
    assert waker["wakeups_per_second"] > 5 * spinner.get("wakeups_per_second", 0) and waker["wakeups_per_second"] > 0, \
        profiles["pods"]
    assert waker["runq_latency_p99_micros"] >= waker["runq_latency_p50_micros"] > 0
    assert spinner["cpu_cores"] > waker["cpu_cores"], "tier 1 still reports alongside tier 2"
    print(f"\nwaker {waker}\nspinner {spinner}")
