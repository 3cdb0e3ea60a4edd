"""The Helm chart for real: `helm install` with the images `schedcp dev images` built, on a
node whose kubelet and containerd make the pods, their cgroups and their mounts.

One module, one release, steps in order (each test needs the one before): the operator and
the agent come up, the agent reports the node, a pod that opts in is profiled through the
cgroups the kubelet made, and a Recommend-mode policy for it reaches Recommended with a
revision the in-cluster operator designed and verified. Values as test/e2e/kind/run.sh's.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from schedcp_cli.components import wait_until
from schedcp_cli.devcluster.cluster import DevCluster
from schedcp_cli.devimages.build import ImageArchive
from schedcp_cli.devnode.node import DevNode
from schedcp_node_agent.pod_cgroups import PodCgroupResolver
from tests.realnode.conftest import NODE_NAME, Images
from tests.realnode.pods import get_pod

# The first test of a module also builds the images it needs when the tree changed: minutes.
pytestmark = [pytest.mark.realnode, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "schedcp-system"
RELEASE = "schedcp"
# Generous: a loaded 2-core machine, images of a few hundred MB unpacked on first use.
READY_SECONDS = 300
# The in-cluster operator profiles, designs and verifies in a TCG micro-VM inside its pod.
RECOMMENDED_SECONDS = 900

WEB = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                 "annotations": {"schedcp.io/optimize": "latency"}},
    "spec": {
        "containers": [{
            "name": "web", "imagePullPolicy": "Never",
            # Short bursts of work between sleeps, as run.sh's web pods, in one thread (a shell
            # would fork a `sleep` now and then) so that the pod's thread count is exact.
            "command": ["python3", "-c", "import time\nwhile True:\n    sum(range(30000))\n    time.sleep(0.005)"],
        }],
    },
}


@pytest.fixture(scope="module")
def node(node_cluster: DevCluster, images: Images) -> Iterator[DevNode]:
    assert node_cluster.info
    node = DevNode(node_cluster.info, NODE_NAME)
    node.start([images["operator"], images["node-agent-bcc"]], images["pause"])
    try:
        yield node
    finally:
        node.stop()


def _kubectl_json(cluster: DevCluster, *args: str) -> dict[str, Any]:
    result = cluster.kubectl(*args, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def _image_values(key: str, image: ImageArchive) -> list[str]:
    repository, tag = image.reference.rsplit(":", 1)
    return [f"--set={key}.repository={repository}", f"--set={key}.tag={tag}"]


@pytest.fixture(scope="module")
def release(node: DevNode, node_cluster: DevCluster, images: Images,
            helm: Callable[..., subprocess.CompletedProcess[str]]) -> Iterator[float]:
    """`helm install`; yields when it returned (monotonic seconds)."""
    assert node.info
    node_cluster.kubectl("create", "namespace", NAMESPACE)
    node_cluster.kubectl("label", "namespace", NAMESPACE, "pod-security.kubernetes.io/enforce=privileged")
    helm(
        "install", RELEASE, str(REPO / "charts" / "schedcp"), "--namespace", NAMESPACE,
        f"--kubeconfig={node_cluster.kubeconfig}",
        # The chart's defaults run the agent with tier 2, from the image with BCC.
        *_image_values("operator.image", images["operator"]), *_image_values("agent.tier2.image", images["node-agent-bcc"]),
        "--set=operator.image.pullPolicy=Never", "--set=agent.image.pullPolicy=Never",
        "--set=operator.replicas=1",
        # The node's pods live under its own cgroup root (see schedcp_cli.devnode.cgroups).
        f"--set=agent.kubepods={node.info.cgroup_root}/kubepods",
        "--set=agent.statusInterval=10",
        "--set=designer.kind=offline",
    )
    yield time.monotonic()
    helm("uninstall", RELEASE, "--namespace", NAMESPACE, f"--kubeconfig={node_cluster.kubeconfig}", "--wait=false", check=False)


def _describe(cluster: DevCluster) -> Callable[[], str]:
    def describe() -> str:
        pods = cluster.kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout
        events = cluster.kubectl("get", "events", "-n", NAMESPACE, "--sort-by=.lastTimestamp", check=False).stdout
        logs = cluster.kubectl("logs", "-n", NAMESPACE, "-l", "app.kubernetes.io/instance=schedcp", "--tail=30",
                               "--all-containers", "--prefix", check=False)
        return f"{pods}\n{events[-3000:]}\n{logs.stdout[-4000:]}{logs.stderr[-1000:]}"
    return describe


def test_the_operator_and_the_node_agent_become_ready(release: float, node_cluster: DevCluster) -> None:
    def ready() -> bool:
        operator = _kubectl_json(node_cluster, "get", "deployment", f"{RELEASE}-operator", "-n", NAMESPACE)
        agent = _kubectl_json(node_cluster, "get", "daemonset", f"{RELEASE}-node-agent", "-n", NAMESPACE)
        return (operator.get("status", {}).get("availableReplicas") == 1
                and agent.get("status", {}).get("numberReady") == 1 == agent["status"].get("desiredNumberScheduled"))

    wait_until(ready, READY_SECONDS, "the operator Deployment and the agent DaemonSet Ready", _describe(node_cluster))
    print(f"\noperator and agent Ready {time.monotonic() - release:.1f}s after helm install")


def test_the_agent_reports_the_real_node(release: float, node_cluster: DevCluster) -> None:
    state = wait_until(
        lambda: _kubectl_json(node_cluster, "get", "nodeschedulerstate", NODE_NAME).get("status", {}).get("heartbeatTime")
        and _kubectl_json(node_cluster, "get", "nodeschedulerstate", NODE_NAME),
        READY_SECONDS, f"NodeSchedulerState/{NODE_NAME} with a heartbeat", _describe(node_cluster),
    )
    assert state["status"]["kernel"]["release"] == os.uname().release


def _profile_of(cluster: DevCluster, name: str) -> dict[str, Any] | None:
    status = _kubectl_json(cluster, "get", "nodeschedulerstate", NODE_NAME).get("status", {})
    pods = (status.get("profiling") or {}).get("pods", [])
    return next((p for p in pods if p["name"] == name and p["metrics"].get("threads")), None)


def test_a_pod_that_opts_in_is_profiled_through_the_kubelets_cgroups(
    release: float, node: DevNode, node_cluster: DevCluster, images: Images, tmp_path: Path
) -> None:
    assert node.info
    web = json.loads(json.dumps(WEB))
    web["spec"]["containers"][0]["image"] = images["node-agent-bcc"].reference
    (tmp_path / "web.yaml").write_text(yaml.safe_dump(web))
    node_cluster.kubectl("apply", "-f", str(tmp_path / "web.yaml"))

    profile = wait_until(lambda: _profile_of(node_cluster, "web"), READY_SECONDS, "the web pod's profile", _describe(node_cluster))

    pod = get_pod(node_cluster, "web")
    cgroup = PodCgroupResolver(kubepods=f"{node.info.cgroup_root}/kubepods").resolve(pod["metadata"]["uid"])
    assert profile["cgroupId"] == cgroup.cgroup_id
    # python3, and nothing of the sandbox: the pause process is not the pod's work.
    assert profile["metrics"]["threads"] == 1
    assert profile["metrics"]["cpuCores"] > 0
    # The BCC image gave the agent a BCC Python (whether BCC then finds this host's kernel
    # headers is the host's business: tier 1 goes on without them).
    reason = _kubectl_json(node_cluster, "get", "nodeschedulerstate", NODE_NAME)["status"]["profiling"]["reason"]
    assert "no BCC Python configured" not in reason, reason


def test_a_recommend_policy_reaches_recommended_designed_in_the_cluster(release: float, node_cluster: DevCluster, tmp_path: Path) -> None:
    policy = yaml.safe_load((REPO / "examples" / "latency-web.yaml").read_text())
    policy["metadata"]["namespace"] = "default"
    policy["spec"]["profiling"] = {"minSamples": 5, "timeoutSeconds": 600}
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
    node_cluster.kubectl("apply", "-f", str(tmp_path / "policy.yaml"))

    def phase() -> str | None:
        status = _kubectl_json(node_cluster, "get", "schedulerpolicy", "latency-web", "-n", "default").get("status", {})
        if status.get("phase") in ("Failed", "Invalid"):
            raise AssertionError(f"the policy ended {status['phase']}: {status.get('conditions')}")
        return status.get("phase") == "Recommended" and status.get("phase")

    started = time.monotonic()
    wait_until(phase, RECOMMENDED_SECONDS, "SchedulerPolicy latency-web Recommended", _describe(node_cluster))
    print(f"\npolicy Recommended {time.monotonic() - started:.1f}s after it was applied")
    status = _kubectl_json(node_cluster, "get", "schedulerpolicy", "latency-web", "-n", "default")["status"]
    revision = _kubectl_json(node_cluster, "get", "schedulerrevision", status["revision"]["name"])
    assert revision["status"]["verification"]["passed"] is True
