"""A whole node in a micro-VM: the agent process in a sched_ext kernel, on the real API server.

The agent reaches the host's kube-apiserver through QEMU's user network and loads the
revision that its NodeSchedulerState names, from a ConfigMap, like on any node.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp.building import compile_scheduler
from schedcp.provisioning.kernel import provision_kernel
from schedcp.templates import builtin_templates
from schedcp_cli.components import wait_until
from schedcp_cli.vm_node import VmNode
from schedcp_node_agent.artifacts import OBJECT_KEY, object_configmap_name

pytestmark = [pytest.mark.vm, pytest.mark.cluster]
PLURAL = "nodeschedulerstates"


def test_agent_in_a_vm_node_loads_and_unloads_what_the_spec_names(kube_cluster, crds_installed, namespace, tmp_path) -> None:
    api = kube_cluster.api_client()
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    fifo = builtin_templates()["fifo"]
    built = compile_scheduler(fifo.source(), fifo.defaults(), provision_kernel().vmlinux_h, tmp_path / "fifo")
    revision = f"fifo-{uuid.uuid4().hex[:6]}"
    core.create_namespaced_config_map(namespace, {"metadata": {"name": object_configmap_name(revision)},
                                                  "binaryData": {OBJECT_KEY: base64.b64encode(built.path.read_bytes()).decode()}})
    node_name = f"vm-{namespace}"
    node = VmNode(node_name, kube_cluster.kubeconfig, kube_cluster.info.server, tmp_path / "vm",
                  namespace=namespace, status_interval=2)

    def status() -> dict[str, Any]:
        try:
            return custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, node_name).get("status", {})
        except client.ApiException:
            return {}

    try:
        facts = wait_until(lambda: status().get("kernel"), 180, "the VM node's first status", node.vm.console)
        assert facts["schedExt"] is True and facts["release"].endswith("+deb13-amd64")
        assert status()["active"]["state"] == "disabled"
        custom.patch_cluster_custom_object(GROUP, VERSION, PLURAL, node_name,
                                           {"spec": {"desiredRevision": {"name": revision, "sha256": built.sha256}}})
        active = wait_until(lambda: (a := status().get("active", {})).get("ops") == "schedcp_fifo" and a,
                            120, "fifo active on the VM node", node.vm.console)
        assert active["revision"] == {"name": revision, "sha256": built.sha256}
        custom.patch_cluster_custom_object(GROUP, VERSION, PLURAL, node_name, {"spec": {"desiredRevision": None}})
        wait_until(lambda: status().get("active", {}).get("state") == "disabled", 120, "back to the kernel default",
                   node.vm.console)
    finally:
        node.stop()
        custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, node_name)
