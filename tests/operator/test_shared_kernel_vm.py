"""Two nodes, one kernel: the kind case, on a micro-VM that two node agents share.

Both agents report the VM kernel's boot id; the operator makes one of them load and the
other report the scheduler it sees, counts the domain once, and reverts both on deletion.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp.building import workload_binaries
from schedcp_cli.components import wait_until
from schedcp_cli.vm_node import VmNode

pytestmark = [pytest.mark.vm, pytest.mark.cluster]


def make_pod(core: client.CoreV1Api, namespace: str, name: str, node: str) -> str:
    pod = core.create_namespaced_pod(namespace, {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"nodeName": node, "tolerations": [{"operator": "Exists"}], "automountServiceAccountToken": False,
                 "containers": [{"name": name, "image": "schedcp.local/none", "resources": {"requests": {"cpu": "100m"}}}]}})
    return pod.metadata.uid


def test_nodes_on_one_kernel_load_once_and_report_the_shared_scheduler(
        kube_cluster, namespace, start_operator, tmp_path) -> None:
    api = kube_cluster.api_client()
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    first, second = f"{namespace}-a", f"{namespace}-b"
    for name in (first, second):
        core.create_node({"metadata": {"name": name}})
    binaries = workload_binaries()
    pods = {make_pod(core, namespace, "web", first): [str(binaries["wakeup_latency"]), "900000", "1", "0", "5000"],
            make_pod(core, namespace, "batch", second): [str(binaries["cpu_batch"]), "900000", "2"]}
    node = VmNode(first, kube_cluster.kubeconfig, kube_cluster.info.server, tmp_path / "vm", namespace=namespace,
                  status_interval=2, extra_args="--window-seconds 10", pods=pods, sharing=(second,))

    def state(name: str) -> dict[str, Any]:
        try:
            return custom.get_cluster_custom_object(GROUP, VERSION, "nodeschedulerstates", name)
        except client.ApiException:
            return {}

    def boot_ids() -> set[str] | None:
        found = {state(n).get("status", {}).get("kernel", {}).get("bootId") for n in (first, second)}
        return found if None not in found else None

    operator = start_operator("--standalone", "--artifacts-namespace", namespace)
    try:
        assert len(wait_until(boot_ids, 420, "both agents' first reports", node.vm.console)) == 1
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "schedulerpolicies", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "SchedulerPolicy", "metadata": {"name": "web"},
            "spec": {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "batch"]}]},
                     "objective": {"kind": "latency", "protect": {"matchLabels": {"app": "web"}}},
                     "mode": "Auto", "profiling": {"minSamples": 5},
                     # The subject is who loads, not the verdict: TCG timing is too noisy for a tight one.
                     "rollout": {"evaluationWindowSeconds": 10, "maxRegressionPercent": 100}}})

        def settled() -> dict[str, Any] | None:
            body = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "schedulerpolicies", "web")
            phase = body.get("status", {}).get("phase")
            assert phase not in ("Failed", "RolledBack"), body["status"]["conditions"]
            return body if phase == "Active" else None

        body = wait_until(settled, 420, "the policy Active", lambda: f"{operator.recent()}\n{node.vm.console()[-3000:]}")
        assert body["status"]["nodes"]["targeted"] == 1 and body["status"]["nodes"]["shared"] == 1
        loader, follower = state(first), state(second)
        assert loader["spec"]["desiredRevision"]["name"] == body["status"]["revision"]["name"]
        assert loader["status"]["active"]["ops"] == "schedcp_latency"
        assert follower["spec"].get("desiredRevision") is None and follower["spec"]["sharedKernelWith"] == first
        wait_until(lambda: state(second)["status"]["active"].get("ops") == "schedcp_latency", 60,
                   "the follower reporting the shared scheduler", node.vm.console)
        ready = next(c for c in state(second)["status"]["conditions"] if c["type"] == "Ready")
        assert ready["reason"] == "SharedKernel"

        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "schedulerpolicies", "web")
        wait_until(lambda: state(first)["status"]["active"]["state"] == "disabled", 120, "the kernel default again",
                   node.vm.console)
        assert not state(second)["spec"].get("sharedKernelWith")
    finally:
        node.stop()
        for name in (first, second):
            for delete in (lambda n=name: custom.delete_cluster_custom_object(GROUP, VERSION, "nodeschedulerstates", n),
                           lambda n=name: core.delete_node(n)):
                with contextlib.suppress(client.ApiException):
                    delete()
