"""`schedcp dev node`: a real kubelet and containerd run pods here, the agent's resolver finds
their cgroups, and `down` after a crash leaves the host as it found it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from schedcp_cli.devcluster.cluster import DevCluster
from schedcp_cli.devnode import cgroups
from schedcp_cli.devnode.node import DevNode
from schedcp_node_agent.pod_cgroups import PodCgroupResolver, QosClass, pod_pids
from tests.realnode.conftest import NODE_NAME, Images
from tests.realnode.pods import default_service_account, run_pod, wait_phase

# The first test of a module also builds the images it needs when the tree changed: minutes.
pytestmark = [pytest.mark.realnode, pytest.mark.timeout(1800)]

@pytest.fixture(scope="module")
def node(node_cluster: DevCluster, images: Images) -> Iterator[DevNode]:
    assert node_cluster.info
    node = DevNode(node_cluster.info, NODE_NAME)
    node.start([images["node-agent"]], images["pause"])
    try:
        yield node
    finally:
        node.stop()


# A pod's view of the control plane: the `kubernetes` Service through kube-proxy's rules,
# authenticated with the pod's own service-account token, TLS checked against its CA file.
REACH = """
import json, os, ssl, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
url = f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}/version"
request = urllib.request.Request(url, headers={"Authorization": "Bearer " + open(sa + "/token").read()})
print(json.load(urllib.request.urlopen(request, context=ssl.create_default_context(cafile=sa + "/ca.crt")))["gitVersion"])
"""


def test_a_pod_reaches_the_api_server_through_the_kubernetes_service(node: DevNode, node_cluster: DevCluster,
                                                                      images: Images) -> None:
    default_service_account(node_cluster)
    pod = run_pod(node_cluster, images["node-agent"].reference, ["python3", "-c", REACH])

    done = wait_phase(node_cluster, pod["metadata"]["name"], "Succeeded", "Failed")

    logs = node_cluster.kubectl("logs", pod["metadata"]["name"], "-n", "default").stdout
    assert done["status"]["phase"] == "Succeeded", logs
    assert logs.strip().startswith("v1.")
    assert done["spec"]["nodeName"] == NODE_NAME


def test_the_agent_resolver_finds_the_kubelets_pod_cgroup_without_the_pause_process(
    node: DevNode, node_cluster: DevCluster, images: Images
) -> None:
    default_service_account(node_cluster)
    pod = run_pod(node_cluster, images["node-agent"].reference, ["sleep", "infinity"])
    running = wait_phase(node_cluster, pod["metadata"]["name"], "Running")
    assert node.info
    resolver = PodCgroupResolver(kubepods=f"{node.info.cgroup_root}/kubepods")
    [container_id] = [c["containerID"] for c in running["status"]["containerStatuses"]]

    cgroup = resolver.resolve(running["metadata"]["uid"], QosClass(running["status"]["qosClass"]), [container_id])
    pids = pod_pids(cgroup)

    assert [Path(f"/proc/{pid}/comm").read_text().strip() for pid in pids] == ["sleep"]
    everything = cgroups.processes(str(cgroup.path.relative_to(resolver.hierarchies.cpu)))
    pause = [p for p in everything if Path(f"/proc/{p}/comm").read_text().strip() == "pause"]
    assert pause, f"no sandbox process in the pod's cgroup: {everything}"
    assert cgroup.cgroup_id is not None and cgroup.unified_path is not None
    assert cgroup.cgroup_id == os.stat(cgroup.unified_path).st_ino
