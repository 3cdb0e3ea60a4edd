"""The README's main command, as a newcomer runs it: the whole loop on a VM node."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.vm, pytest.mark.cluster]


def test_the_demo_ends_with_the_policy_active_on_the_vm_node() -> None:
    run = subprocess.run([sys.executable, "-m", "schedcp_cli.main", "demo"], cwd=REPO, capture_output=True, text=True,
                         timeout=1200, check=False)
    out = run.stdout
    assert run.returncode == 0, f"{out[-6000:]}\n{run.stderr[-3000:]}"
    assert "phase Active" in out
    assert "the VM node's kernel reports sched_ext enabled with ops 'schedcp_latency'" in out
    table = out[out.index("the protected (web) pod before and after"):]
    row = next(line for line in table.splitlines() if line.startswith("| runDelayP99Micros"))
    before, after = (cell.strip() for cell in row.split("|")[2:4])
    assert before.isdigit() and after.isdigit(), row
    # The policy's objective, as the pod itself measures it per wakeup, in the same boot.
    per_wakeup = out[out.index("the web pod's own measure, per wakeup"):]
    p99 = {cells[0]: float(cells[4]) for line in per_wakeup.splitlines()[3:]
           if line.startswith("| ") and len(cells := [c.strip() for c in line.strip("|").split("|")]) == 6}
    assert p99["schedcp_latency"] < p99["EEVDF (kernel default)"], per_wakeup[:1200]
    print(out[out.index("==> kubectl get schedulerpolicies"):out.index("==> status written")])
    print(table[:1500])
    print(out.splitlines()[-1])
