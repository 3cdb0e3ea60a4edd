"""A production scx scheduler, built into the cache, runs in the micro-VM: the anchors the
scheduling benchmark compares designs against really load under sched_ext."""

from __future__ import annotations

import pytest

from schedcp.microvm.runner import run_script
from schedcp.provisioning.kernel import provision_kernel
from schedcp.provisioning.scx import crate_status, scx_guest_files

pytestmark = pytest.mark.vm

# The log goes into JSON: keep only characters that need no escaping.
SCRIPT = """
. ./scx_guest.sh
state() { cat /sys/kernel/sched_ext/state; }
wait_state() { n=0; while [ "$(state)" != "$1" ] && [ $n -lt "$2" ]; do sleep 0.1; n=$((n + 1)); done; }
scx_start /tmp/scx.log "$BINARY"
wait_state enabled 1200
report '{"event":"started","state":"'"$(state)"'","ops":"'"$(cat /sys/kernel/sched_ext/root/ops)"'"}'
scx_stop; rc=$?
wait_state disabled 300
log=$(tail -n 20 /tmp/scx.log | tr -cd 'A-Za-z0-9 .,:;=/_()+\\n-' | tr '\\n' '|')
report '{"event":"stopped","state":"'"$(state)"'","rc":'"$rc"',"log":"'"$log"'"}'
"""


def test_scx_bpfland_enables_under_sched_ext_and_sigint_disables_it() -> None:
    status = crate_status("scx_bpfland")
    if not status.binary:
        pytest.skip(f"scx_bpfland is not in the cache: {status.message}")
    script = f"BINARY={status.binary}\n{SCRIPT}"
    result = run_script(script, scx_guest_files(provision_kernel()), share_host=True, timeout=300)
    started, stopped = result.events("started"), result.events("stopped")
    assert started and stopped, result.console[-3000:]
    # scx names its ops after the scheduler, its version and target: bpfland_1.1.4_x86_64_...
    assert started[0]["state"] == "enabled" and started[0]["ops"].startswith("bpfland_"), (started, stopped[0]["log"])
    assert (stopped[0]["state"], stopped[0]["rc"]) == ("disabled", 0), stopped[0]["log"]
