"""`schedcp dev node down` after a crash: the host is left as it was found.

Its own module, so that the other modules' nodes (same name) are torn down before it starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from schedcp_cli.devcluster.cluster import DevCluster
from schedcp_cli.devnode import cgroups, hostnet, mountns
from schedcp_cli.devnode.node import FIXED_PATHS, DevNode, teardown
from tests.realnode.conftest import NODE_NAME, Images
from tests.realnode.pods import default_service_account, run_pod, wait_phase

# The first test of a module also builds the images it needs when the tree changed: minutes.
pytestmark = [pytest.mark.realnode, pytest.mark.timeout(1800)]


def _host_state() -> dict[str, object]:
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    return {
        "sysctls": hostnet.read_sysctls(),
        "node rules": [line for line in rules.splitlines() if "KUBE-" in line or "CNI-" in line],
        "bridge": Path("/sys/class/net", hostnet.BRIDGE).exists(),
        "fixed paths": {p: Path(p).exists() for p in FIXED_PATHS},
    }


def test_down_after_a_crash_leaves_nothing_behind(node_cluster: DevCluster, images: Images) -> None:
    """The node of this test is killed as a crashed test run would leave it: kubelet and
    containerd gone, shims and containers still running. `down` must still clean up."""
    assert node_cluster.info
    teardown(DevNode(node_cluster.info, NODE_NAME).state_dir)
    before = _host_state()
    node = DevNode(node_cluster.info, NODE_NAME)
    info = node.start([images["node-agent"]], images["pause"])
    default_service_account(node_cluster)
    pod = run_pod(node_cluster, images["node-agent"].reference, ["sleep", "infinity"])
    wait_phase(node_cluster, pod["metadata"]["name"], "Running")
    assert _host_state()["node rules"], "kube-proxy wrote no rules: the check below would prove nothing"
    for name in ("kubelet", "containerd", "kube-proxy"):
        os.kill(info.pids[name], signal.SIGKILL)
    assert cgroups.processes(info.cgroup_root), "the containers should outlive a crashed kubelet"

    teardown(node.state_dir)

    assert _host_state() == before
    assert not cgroups.processes(info.cgroup_root)
    assert not any((h / info.cgroup_root).exists() for h in cgroups.hierarchies())
    assert not mountns.members(node.ns_file)
    assert str(node.state_dir) not in Path("/proc/self/mountinfo").read_text()
    assert not node.state_dir.exists()
    nodes = node_cluster.kubectl("get", "nodes", "-o", "name").stdout
    assert NODE_NAME not in nodes
