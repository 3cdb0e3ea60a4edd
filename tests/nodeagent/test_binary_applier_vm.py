"""The applier runs an scx binary revision as a supervised child process in a real sched_ext
kernel: digest-checked, watched (its death is an ejection, with its last output), reverted
to known-good, and handed over cleanly by a restarted agent. One boot."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from schedcp.building import compile_scheduler
from schedcp.provisioning.kernel import provision_kernel
from schedcp.provisioning.scx import crate_status, scx_root
from schedcp.templates import builtin_specs, builtin_templates
from tests.nodeagent.vm_scenarios import AGENT, run_scenario

pytestmark = pytest.mark.vm

REPO = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).with_name("vm_binary_scenario.py")

# The agent runs chrooted in the host tree, where libbpf looks for the guest kernel's config
# in /boot: a tmpfs there holds it (as a node's /boot holds its kernel's); scx binaries also
# want a writable /run (/var/run/scx).
GUEST = """
mount -t tmpfs boot /host/boot && cp /schedcp/kernel-config "/host/boot/config-$(uname -r)"
mount -t tmpfs run /host/run
""" + AGENT + """state() {{ report "{{\\"event\\":\\"$1\\",\\"state\\":\\"$(cat /sys/kernel/sched_ext/state)\\",\\"ops\\":\\"$(cat /sys/kernel/sched_ext/root/ops 2>/dev/null)\\",\\"scx\\":\\"$(cat /proc/[0-9]*/comm 2>/dev/null | grep -c ^scx_bpfland)\\"}}"; }}
agent first
state after-crash
agent second
state final
"""


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    if crate_status("scx_bpfland").binary is None:
        pytest.skip("scx_bpfland is not in the cache: `schedcp dev prepare --scx scx_bpfland`")
    kernel = provision_kernel()
    work = tmp_path_factory.mktemp("objects")
    fifo = builtin_templates()["fifo"]
    files = {"objects/fifo.bpf.o": compile_scheduler(fifo.source(), fifo.defaults(), kernel.vmlinux_h, work / "fifo").path,
             "kernel-config": kernel.config}
    spec = builtin_specs()["scx-bpfland"]
    defaults = {t.name: t.default for t in spec.tunables}
    for name, tunables in (("bpfland-a", {"slice_us": 5000}), ("bpfland-b", {"slice_us": 2000, "sticky_tasks": 1})):
        (work / f"{name}.bpf.o").write_text(spec.configured(defaults | tunables).text())
        files[f"objects/{name}.bpf.o"] = work / f"{name}.bpf.o"
    script = GUEST.format(repo=REPO, python=sys.executable, scenario=SCENARIO, extra=scx_root().parent)
    return run_scenario("binary applier scenario", script, files, kernel, timeout=300)


def test_runs_the_binary_with_the_revision_s_arguments(events) -> None:
    loaded = events["load-bpfland-a"]
    assert loaded["verdict"]["reason"] == "Loaded", loaded["verdict"]
    assert loaded["active"]["ops"].startswith("bpfland_1.1.4_") and loaded["active"]["revision"]["name"] == "bpfland-a"
    assert loaded["child"]["args"] == ["--slice-us=5000", "--slice-min-us=0"]
    assert events["load-bpfland-b"]["child"]["args"] == ["--slice-us=2000", "--slice-min-us=0", "--sticky-tasks"]


def test_the_process_dying_is_an_ejection_reverted_to_known_good(events) -> None:
    killed = events["killed"]
    reasons = [n["reason"] for n in killed["notices"]]
    assert reasons[:2] == ["SchedulerEjected", "RevertedToLastKnownGood"], killed["notices"]
    assert "was killed by signal 9" in killed["ejected"]["reason"], killed["ejected"]
    assert killed["active"]["ops"] == "schedcp_fifo" and killed["active"]["revision"]["name"] == "fifo"
    print(f"\nscx process killed: known-good restored after {killed['seconds']}s")


def test_a_restarted_agent_stops_the_left_child_first_then_loads_the_spec(events) -> None:
    assert events["after-crash"]["ops"].startswith("bpfland_") and events["after-crash"]["scx"] == "1"
    handed = events["handed-over"]
    assert handed["left_pid"] == events["load-bpfland-b"]["child"]["pid"] and not handed["old_alive"]
    assert [n["reason"] for n in handed["notices"]] == ["SchedulerHandedOver"]
    assert handed["active"]["state"] == "disabled"
    reloaded = events["reload-bpfland-b"]
    assert reloaded["verdict"]["reason"] == "Loaded" and reloaded["child"]["pid"] != handed["left_pid"]


def test_the_kernel_default_stops_the_process(events) -> None:
    assert events["kernel-default"]["verdict"]["reason"] == "KernelDefault"
    assert events["final"]["state"] == "disabled" and events["final"]["scx"] == "0"
