"""Done-when of the scx production schedulers: a policy whose design is scx_bpfland with
non-default flags reaches Active on a micro-VM node, the kernel reports bpfland's ops, and
deleting the policy stops the process and returns the kernel to its default.

Claude is the local Messages API server, scripted to choose scx-bpfland with a longer
slice; everything else is real: the verifier's boot and gate, the revision and its
published text, the agent running the binary from the host's build cache. The objective is
throughput, which bpfland's longer slice gives the CPU-bound pods over EEVDF's in the gate.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp.building import workload_binaries
from schedcp.provisioning.scx import crate_status
from schedcp_cli.components import wait_until
from schedcp_cli.vm_node import VmNode
from tests.messages_api.server import Reply, Turn, call
from tests.operator.test_shared_kernel_vm import make_pod

pytestmark = [pytest.mark.vm, pytest.mark.cluster]
FLAGS = {"slice_us": 20000}


def scripted_design() -> list[Turn]:
    return [
        Turn(reply=Reply(tool_calls=[call("describe_workload", description="CPU-bound batch next to a waker.",
                                          goals=["more work done by the batch pods"])])),
        Turn(reply=Reply(tool_calls=[call("decide_plan", action="configure", template="scx-bpfland",
                                          reason="a production scheduler; a longer slice favours throughput")])),
        Turn(reply=Reply(tool_calls=[call("propose_configuration", template="scx-bpfland", tunables=FLAGS),
                                     call("run_verifier"), call("finish", rationale="scx_bpfland, 20 ms slices")])),
    ]


def test_a_policy_designed_as_scx_bpfland_with_flags_runs_it_and_deleting_it_stops_it(
        kube_cluster, namespace, start_operator, messages_api, tmp_path) -> None:
    if crate_status("scx_bpfland").binary is None:
        pytest.skip("scx_bpfland is not in the cache: `schedcp dev prepare --scx scx_bpfland`")
    api = kube_cluster.api_client()
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    name = f"{namespace}-scx"
    core.create_node({"metadata": {"name": name}})
    binaries = workload_binaries()
    pods = {make_pod(core, namespace, "web", name): [str(binaries["wakeup_latency"]), "900000", "1", "0", "5000"],
            make_pod(core, namespace, "batch", name): [str(binaries["cpu_batch"]), "900000", "2"]}
    node = VmNode(name, kube_cluster.kubeconfig, kube_cluster.info.server, tmp_path / "vm", namespace=namespace,
                  status_interval=2, extra_args="--window-seconds 10", pods=pods)
    messages_api.script(*scripted_design())

    def state() -> dict[str, Any]:
        try:
            return custom.get_cluster_custom_object(GROUP, VERSION, "nodeschedulerstates", name)
        except client.ApiException:
            return {}

    operator = start_operator("--standalone", "--artifacts-namespace", namespace,
                              env={"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": messages_api.url})
    try:
        wait_until(lambda: state().get("status", {}).get("kernel"), 420, "the agent's first report", node.vm.console)
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "schedulerpolicies", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "SchedulerPolicy", "metadata": {"name": "batch"},
            "spec": {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "batch"]}]},
                     "objective": {"kind": "throughput", "maxBatchLossPercent": 100},
                     "mode": "Auto", "profiling": {"minSamples": 5},
                     "designer": {"kind": "claude", "maxRepairs": 0},
                     # The subject is what runs, not the canary's verdict: TCG timing is too noisy for a tight one.
                     "rollout": {"evaluationWindowSeconds": 10, "maxRegressionPercent": 100}}})

        def settled() -> dict[str, Any] | None:
            body = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "schedulerpolicies", "batch")
            status = body.get("status", {})
            assert status.get("phase") not in ("Failed", "RolledBack", "NoImprovement"), \
                (status.get("phase"), status.get("message"), status.get("tried"))
            return body if status.get("phase") == "Active" else None

        body = wait_until(settled, 900, "the policy Active", lambda: f"{operator.recent()}\n{node.vm.console()[-3000:]}")
        messages_api.assert_done()
        revision = body["status"]["revision"]
        assert revision["template"] == "scx-bpfland"
        spec = custom.get_cluster_custom_object(GROUP, VERSION, "schedulerrevisions", revision["name"])["spec"]
        assert spec["source"]["binary"]["crate"] == "scx_bpfland"
        assert "--slice-us=20000" in spec["source"]["binary"]["arguments"]
        active = state()["status"]["active"]
        assert active["ops"].startswith("bpfland_1.1.4_") and active["revision"]["name"] == revision["name"]
        assert "--slice-us=20000" in node.vm.console(tail=10**8), "the agent logs the arguments it started the binary with"

        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "schedulerpolicies", "batch")
        wait_until(lambda: state()["status"]["active"]["state"] == "disabled", 120, "the kernel default again",
                   node.vm.console)
        wait_until(lambda: "stopped scx_bpfland" in node.vm.console(tail=10**8), 30, "the process stopped", node.vm.console)
    finally:
        node.stop()
        for delete in (lambda: custom.delete_cluster_custom_object(GROUP, VERSION, "nodeschedulerstates", name),
                       lambda: core.delete_node(name)):
            with contextlib.suppress(client.ApiException):
                delete()
