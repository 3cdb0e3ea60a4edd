"""A node that is real all the way: the dev node's kubelet, containerd and runc inside the
sched_ext micro-VM, joined to the test control plane; the chart's agent container and a
workload's container run there as pods, and a policy's scheduler runs under the workload.

One boot under TCG (slow: containerd, image imports and the kubelet all emulated), so one
test, in steps; it asserts relations (the Node's kernel is the VM's, the kernel's ops are
the policy's while the pod runs, the pod's cgroup is in the class map) and prints, never
asserts, how long each step took. The guest tells what only it can see through the VM's
reports (see schedcp_cli.vm_kubelet).
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp_cli.components import wait_until
from schedcp_cli.devcluster.cluster import DevCluster
from schedcp_cli.devimages.build import ImageArchive
from schedcp_cli.vm_kubelet import GUEST_DIR, VmKubeletNode
from schedcp_cli.vm_node import guest_kubeconfig
from tests.chart.conftest import CHART
from tests.operator.conftest import start_operator  # noqa: F401 (the fixture)
from tests.realnode.conftest import Images

pytestmark = [pytest.mark.vm, pytest.mark.realnode, pytest.mark.timeout(2700)]

NODE = "schedcp-vm-kubelet"
# A loaded 2-core machine emulating the guest: containerd, the kubelet and runc under TCG.
READY_SECONDS = 600
# The agent image's import: 7-10 min measured here (514 MB hashed and unpacked under TCG).
IMPORT_SECONDS = 1200
ACTIVE_SECONDS = 600
AGENT_KUBECONFIG = "agent.kubeconfig"

WEB = {
    "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"schedcp.io/optimize": "latency"}},
    "spec": {
        "nodeName": NODE, "hostNetwork": True, "automountServiceAccountToken": False,
        "tolerations": [{"operator": "Exists"}],
        "containers": [{
            "name": "web", "imagePullPolicy": "Never", "resources": {"requests": {"cpu": "100m"}},
            # Short bursts of work between sleeps, as test_chart's web pod.
            "command": ["python3", "-c", "import time\nwhile True:\n    sum(range(30000))\n    time.sleep(0.005)"],
        }],
    },
}


def _embedded_kubeconfig(admin: Path, target: Path) -> Path:
    """The admin kubeconfig with its files inlined (a container sees none of the host's),
    pointed at the VM's forward to the API server."""
    document = json.loads(guest_kubeconfig(admin, target).read_text())
    cluster, user = document["clusters"][0]["cluster"], document["users"][0]["user"]
    cluster["certificate-authority-data"] = base64.b64encode(Path(cluster.pop("certificate-authority")).read_bytes()).decode()
    for field in ("client-certificate", "client-key"):
        user[f"{field}-data"] = base64.b64encode(Path(user.pop(field)).read_bytes()).decode()
    target.write_text(json.dumps(document))
    return target


def _agent_pod(helm: Callable[..., subprocess.CompletedProcess[str]], image: ImageArchive, namespace: str) -> dict[str, Any]:
    """The chart's agent DaemonSet's pod, bound to the VM node, with the API server reached
    through the VM's forward (no kube-proxy, so no `kubernetes` Service, in the guest)."""
    repository, tag = image.reference.rsplit(":", 1)
    rendered = helm("template", "schedcp", str(CHART), "--namespace", namespace, "--show-only", "templates/agent-daemonset.yaml",
                    f"--set=agent.image.repository={repository}", f"--set=agent.image.tag={tag}",
                    "--set=agent.image.pullPolicy=Never", "--set=agent.tier2.enabled=false", "--set=agent.kubepods=kubepods",
                    "--set=agent.statusInterval=2", "--set=agent.logFormat=plain",
                    "--set=agent.extraArgs={--kubeconfig=/etc/schedcp/kubeconfig,--window-seconds=10}")
    template = yaml.safe_load(rendered.stdout)["spec"]["template"]
    spec = template["spec"]
    spec.pop("serviceAccountName")
    spec.pop("priorityClassName", None)
    spec.update({"nodeName": NODE, "hostNetwork": True, "automountServiceAccountToken": False})
    spec["volumes"].append({"name": "kubeconfig", "hostPath": {"path": str(GUEST_DIR / AGENT_KUBECONFIG), "type": "File"}})
    spec["containers"][0]["volumeMounts"].append({"name": "kubeconfig", "mountPath": "/etc/schedcp/kubeconfig", "readOnly": True})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "node-agent", "labels": template["metadata"]["labels"]},
            "spec": spec}


def _get(cluster: DevCluster, *args: str) -> dict[str, Any]:
    result = cluster.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def _ready(cluster: DevCluster) -> dict[str, Any] | None:
    node = _get(cluster, "node", NODE)
    conditions = node.get("status", {}).get("conditions", [])
    return node if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) else None


def _apply(cluster: DevCluster, namespace: str, obj: dict[str, Any], workdir: Path) -> None:
    path = workdir / f"{obj['metadata']['name']}.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "Pod", **obj}))
    cluster.kubectl("apply", "-n", namespace, "-f", str(path))


def _running(cluster: DevCluster, namespace: str, name: str) -> dict[str, Any] | None:
    pod = _get(cluster, "pod", name, "-n", namespace)
    return pod if pod.get("status", {}).get("phase") == "Running" else None


def _class_map_ids(report: dict[str, Any]) -> set[int]:
    """Cgroup ids in bpftool's dump of the class maps (keys are little-endian u64 bytes)."""
    return {int.from_bytes(bytes(int(b, 16) for b in entry["key"]), "little")
            for found in report["maps"] for entry in found["entries"]}


def test_a_vm_node_with_a_real_kubelet_runs_a_pod_under_the_policys_scheduler(
        kube_cluster: DevCluster, images: Images, namespace: str, start_operator, helm, tmp_path: Path) -> None:  # noqa: F811
    assert kube_cluster.info
    agent_image = images["node-agent"]
    custom = client.CustomObjectsApi(kube_cluster.api_client())
    started = time.monotonic()
    node = VmKubeletNode(kube_cluster.info, NODE, tmp_path / "vm", [agent_image], images["pause"],
                         extra_files={AGENT_KUBECONFIG: _embedded_kubeconfig(kube_cluster.kubeconfig, tmp_path / AGENT_KUBECONFIG)})

    def reports(event: str) -> list[dict[str, Any]]:
        return [r for r in node.vm.reports() if r.get("event") == event]

    def sched_ext() -> dict[str, Any]:
        return reports("sched-ext")[-1] if reports("sched-ext") else {}

    try:
        ready = wait_until(lambda: _ready(kube_cluster), READY_SECONDS, f"Node {NODE} Ready", node.vm.console)
        print(f"\nNode Ready {time.monotonic() - started:.1f}s after boot; guest: {node.vm.reports()}")
        booted = reports("booted")[0]
        system = ready["status"]["nodeInfo"]
        assert system["kernelVersion"] == booted["kernel"], "the kubelet runs on the VM's kernel"
        assert system["containerRuntimeVersion"].startswith("containerd://2.")

        operator = start_operator("--standalone", "--artifacts-namespace", namespace)
        imported = wait_until(lambda: next((r for r in reports("image-imported") if r["image"] == agent_image.name), None),
                              IMPORT_SECONDS, "the agent image imported in the guest", node.vm.console)
        assert imported["rc"] == 0
        wait_until(sched_ext, 30, "the guest's first sched_ext report", node.vm.console)
        assert sched_ext()["state"] == "disabled", "no policy yet: the kernel's default scheduler"
        print(f"agent image imported {time.monotonic() - started:.1f}s after boot; guest: {node.vm.reports()}")
        _apply(kube_cluster, namespace, _agent_pod(helm, agent_image, namespace), tmp_path)
        web = json.loads(json.dumps(WEB))
        web["spec"]["containers"][0]["image"] = agent_image.reference
        _apply(kube_cluster, namespace, web, tmp_path)
        pods_created = time.monotonic()
        wait_until(lambda: _running(kube_cluster, namespace, "node-agent") and _running(kube_cluster, namespace, "web"),
                   READY_SECONDS, "the agent and web pods Running on the VM node", node.vm.console)
        print(f"agent and web pods Running {time.monotonic() - pods_created:.1f}s after they were created")

        def state() -> dict[str, Any]:
            try:
                return custom.get_cluster_custom_object(GROUP, VERSION, "nodeschedulerstates", NODE)
            except client.ApiException:
                return {}

        wait_until(lambda: state().get("status", {}).get("kernel"), READY_SECONDS, "the containerized agent's report",
                   lambda: f"{operator.recent()}\n{node.vm.console()[-3000:]}")
        assert state()["status"]["kernel"]["release"] == booted["kernel"]

        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "schedulerpolicies", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "SchedulerPolicy", "metadata": {"name": "web"},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                     "objective": {"kind": "latency", "protect": {"matchLabels": {"app": "web"}}},
                     "mode": "Auto", "profiling": {"minSamples": 5},
                     # The subject is what runs, not the verdict: TCG timing is too noisy for a tight one.
                     "rollout": {"evaluationWindowSeconds": 10, "maxRegressionPercent": 100}}})
        applied = time.monotonic()

        def settled() -> dict[str, Any] | None:
            body = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "schedulerpolicies", "web")
            phase = body.get("status", {}).get("phase")
            assert phase not in ("Failed", "RolledBack", "NoImprovement"), body["status"]
            return body if phase == "Active" else None

        wait_until(settled, ACTIVE_SECONDS, "the policy Active", lambda: f"{operator.recent()}\n{node.vm.console()[-3000:]}")
        print(f"policy Active {time.monotonic() - applied:.1f}s after it was applied")
        ops = state()["status"]["active"]["ops"]
        assert ops, "the agent reports the policy's scheduler"
        wait_until(lambda: (sched_ext().get("state"), sched_ext().get("ops")) == ("enabled", ops), 60,
                   f"the guest kernel's ops {ops}", node.vm.console)
        assert _running(kube_cluster, namespace, "web"), "the web pod's container runs under the policy's scheduler"
        uid = _get(kube_cluster, "pod", "web", "-n", namespace)["metadata"]["uid"]
        cgroup = next(r["id"] for r in reports("pod-cgroup") if r["uid"] == uid)
        wait_until(lambda: reports("class-maps") and cgroup in _class_map_ids(reports("class-maps")[-1]), 60,
                   f"the web pod's cgroup {cgroup} in the class map", lambda: str(reports("class-maps")[-3:]))

        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "schedulerpolicies", "web")
        deleted = time.monotonic()
        wait_until(lambda: sched_ext().get("state") == "disabled", 120, "the kernel default again", node.vm.console)
        print(f"kernel default {time.monotonic() - deleted:.1f}s after the policy was deleted; guest: "
              f"{[r for r in node.vm.reports() if r['event'] in ('sched-ext', 'pod-cgroup', 'class-maps')]}")
    finally:
        node.stop()
        for kind, name in (("pod", "web"), ("pod", "node-agent")):
            kube_cluster.kubectl("delete", kind, name, "-n", namespace, "--grace-period=0", "--force", "--ignore-not-found",
                                 check=False)
        for delete in (lambda: custom.delete_cluster_custom_object(GROUP, VERSION, "nodeschedulerstates", NODE),
                       lambda: kube_cluster.kubectl("delete", "node", NODE, "--ignore-not-found", check=False)):
            with contextlib.suppress(client.ApiException):
                delete()
