"""Node agents as real processes against the real API server, on this host's kernel.

The host kernel has no sched_ext, so these tests cover what every node needs whatever
its kernel: the agent's own object, facts, its Lease, status written only with news,
profiles of real pod cgroups, conditions, Events, the ops endpoint and a clean stop. Loading runs in the micro-VM
tests (test_applier_vm.py).
"""

from __future__ import annotations

import contextlib
import os
import sys
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp.naming import fit
from schedcp_cli.components import ComponentProcess, wait_until
from schedcp_cli.devcluster.ports import free_port

pytestmark = pytest.mark.cluster

PLURAL = "nodeschedulerstates"
BUSY = [sys.executable, "-c", "while True: pass"]
IDLE = ["sleep", "1000"]
# From starting an agent to its first status: a Python process importing the Kubernetes
# client and listing its objects. At load 20 on 2 cores that took 40 s; an allowance, not
# an expectation (waits return as soon as the status is there).
STARTUP_SECONDS = 180


class AgentProcess(ComponentProcess):
    def __init__(self, node: str, kubeconfig: Path, workdir: Path, lease_namespace: str) -> None:
        self.node = node
        self.metrics_port = free_port()
        files = fit(node, 200)  # a file name has 255 bytes, a node name 253 characters
        args = [
            "--node-name", node, "--state-dir", str(workdir / f"state-{files}"),
            "--metrics-address", "127.0.0.1", "--metrics-port", str(self.metrics_port),
            "--status-interval", "1", "--profile-hz", "5", "--window-seconds", "10",
            "--lease-namespace", lease_namespace,
        ]
        super().__init__("schedcp_node_agent", args, kubeconfig, workdir / f"agent-{files}.log")

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}", timeout=5) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


@pytest.fixture
def start_agent(kube_cluster, crds_installed, namespace, tmp_path) -> Iterator[Callable[[str], AgentProcess]]:
    started: list[AgentProcess] = []
    custom = client.CustomObjectsApi(kube_cluster.api_client())

    def start(node: str, kubeconfig: Path | None = None) -> AgentProcess:
        agent = AgentProcess(node, kubeconfig or kube_cluster.kubeconfig, tmp_path, namespace)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()
        with contextlib.suppress(client.ApiException):
            custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, agent.node)


def node_name(tmp_path: Path, suffix: str) -> str:
    return f"node-{suffix}-{tmp_path.name[-12:].lower().replace('_', '-').strip('-')}"


def state_of(kube_cluster, node: str) -> dict[str, Any] | None:
    try:
        return client.CustomObjectsApi(kube_cluster.api_client()).get_cluster_custom_object(GROUP, VERSION, PLURAL, node)
    except client.ApiException:
        return None


def renewed(kube_cluster, namespace: str, node: str) -> datetime | None:
    """The renewTime of the node's Lease, None while there is none."""
    try:
        lease = client.CoordinationV1Api(kube_cluster.api_client()).read_namespaced_lease(node, namespace)
    except client.ApiException:
        return None
    return lease.spec.renew_time if lease.spec else None


def next_renewal(kube_cluster, namespace: str, agent: AgentProcess, after: datetime | None,
                 timeout: float = 30) -> datetime:
    def later() -> datetime | None:
        at = renewed(kube_cluster, namespace, agent.node)
        return at if at is not None and (after is None or at > after) else None

    return wait_until(later, timeout, f"a renewal of the Lease of {agent.node}", agent.recent)


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == type_), {})


def test_each_agent_keeps_its_own_node_state_current(kube_cluster, start_agent, namespace, tmp_path) -> None:
    nodes = [node_name(tmp_path, "a"), node_name(tmp_path, "b")]
    agents = [start_agent(node) for node in nodes]
    first = {}
    for agent in agents:
        obj = wait_until(lambda agent=agent: (o := state_of(kube_cluster, agent.node)) and o.get("status", {}).get("heartbeatTime") and o,
                         STARTUP_SECONDS, f"status of {agent.node}", agent.recent)
        kernel = obj["status"]["kernel"]
        assert kernel["release"] == os.uname().release
        assert kernel["schedExt"] is False, "the host kernel has no sched_ext"
        assert kernel["cpus"] == os.cpu_count()
        assert obj["status"]["active"]["state"] == "unsupported"
        assert obj["status"]["profiling"]["tier"] == "tier1-proc"
        first[agent.node] = next_renewal(kube_cluster, namespace, agent, None)
    for agent in agents:
        next_renewal(kube_cluster, namespace, agent, first[agent.node], 60)
    for agent in agents:
        managers = {m["manager"] for m in state_of(kube_cluster, agent.node)["metadata"]["managedFields"]}
        assert managers == {f"schedcp-node-agent/{agent.node}"}, "only this node's agent may write its object"


def heartbeat(kube_cluster, node: str) -> str | None:
    return ((state_of(kube_cluster, node) or {}).get("status") or {}).get("heartbeatTime")


def test_an_agent_of_a_node_with_a_253_character_name_keeps_its_state(kube_cluster, start_agent, tmp_path) -> None:
    node = (node_name(tmp_path, "long") + "." + "n" * 253)[:253]
    agent = start_agent(node)
    wait_until(lambda: heartbeat(kube_cluster, node), STARTUP_SECONDS, f"status of {node}", agent.recent)
    labels = state_of(kube_cluster, node)["metadata"]["labels"]
    assert len(labels["schedcp.io/node"]) <= 63


def test_an_agent_renews_its_lease_and_writes_no_unchanged_status(kube_cluster, start_agent, namespace, tmp_path) -> None:
    node = node_name(tmp_path, "lease")
    agent = start_agent(node)
    wait_until(lambda: condition(state_of(kube_cluster, node) or {}, "Ready"), STARTUP_SECONDS, "Ready", agent.recent)
    renewal = next_renewal(kube_cluster, namespace, agent, None)
    for _ in range(2):  # past the start-up's writes: its conditions and facts
        renewal = next_renewal(kube_cluster, namespace, agent, renewal)
    version = state_of(kube_cluster, node)["metadata"]["resourceVersion"]
    for _ in range(3):
        renewal = next_renewal(kube_cluster, namespace, agent, renewal)
    assert state_of(kube_cluster, node)["metadata"]["resourceVersion"] == version, "an unchanged status was rewritten"
    lease = client.CoordinationV1Api(kube_cluster.api_client()).read_namespaced_lease(node, namespace)
    assert (lease.spec.holder_identity, lease.spec.lease_duration_seconds) == (node, 4)
    assert 'schedcp_agent_status_writes_total{result="unchanged"}' in agent.get("/metrics")[1]


def test_an_agent_outlives_an_api_server_outage(kube_cluster, start_agent, api_link, namespace, tmp_path) -> None:
    node = node_name(tmp_path, "outage")
    agent = start_agent(node, api_link.kubeconfig)
    wait_until(lambda: heartbeat(kube_cluster, node), STARTUP_SECONDS, f"status of {node}", agent.recent)
    before = next_renewal(kube_cluster, namespace, agent, None)
    api_link.cut()
    agent.wait_for_message("lease renewal failed: API server unreachable", timeout=30)
    api_link.restore()
    next_renewal(kube_cluster, namespace, agent, before, 60)
    assert agent.alive()


def test_spec_on_an_unsupported_kernel_is_refused_with_a_condition(kube_cluster, start_agent, tmp_path) -> None:
    node = node_name(tmp_path, "c")
    agent = start_agent(node)
    wait_until(lambda: condition(state_of(kube_cluster, node) or {}, "Ready").get("reason") == "KernelDefault",
               STARTUP_SECONDS, "Ready=KernelDefault", agent.recent)
    custom = client.CustomObjectsApi(kube_cluster.api_client())
    patch = {"spec": {"desiredRevision": {"name": "fifo-abc", "sha256": "a" * 64}}}
    generation = custom.patch_cluster_custom_object(GROUP, VERSION, PLURAL, node, patch)["metadata"]["generation"]
    ready = wait_until(lambda: (c := condition(state_of(kube_cluster, node), "Ready")).get("observedGeneration") == generation and c,
                       30, "Ready for the new generation", agent.recent)
    assert (ready["status"], ready["reason"]) == ("False", "SchedExtUnsupported")


def test_profiles_tell_the_busy_pod_from_the_idle_one(kube_cluster, start_agent, host_pods, namespace, tmp_path) -> None:
    node = node_name(tmp_path, "p")
    core = client.CoreV1Api(kube_cluster.api_client())
    # Without a Node object the controller manager's pod GC deletes the pods after a while.
    core.create_node({"metadata": {"name": node}})
    uids = {}
    for name, argv in (("busy", BUSY), ("idle", IDLE)):
        pod = core.create_namespaced_pod(namespace, {
            "metadata": {"name": name},
            "spec": {"nodeName": node, "automountServiceAccountToken": False,
                     # A request without a limit: Burstable, where host_pods puts the cgroup.
                     "containers": [{"name": "main", "image": "example.invalid/none",
                                     "resources": {"requests": {"cpu": "100m"}}}]},
        })
        uids[name] = host_pods.pod(pod.metadata.uid)
        host_pods.spawn(uids[name], argv)
    agent = start_agent(node)

    def profiles() -> dict[str, dict[str, Any]] | None:
        obj = state_of(kube_cluster, node) or {}
        pods = {p["name"]: p for p in obj.get("status", {}).get("profiling", {}).get("pods", [])}
        return pods if all(pods.get(n, {}).get("metrics", {}).get("samples", 0) >= 5 for n in uids) else None

    wait_until(lambda: heartbeat(kube_cluster, node), STARTUP_SECONDS, f"status of {node}", agent.recent)
    pods = wait_until(profiles, 60, "profiles of both pods", lambda: f"{agent.recent()}\n{state_of(kube_cluster, node)}")
    busy, idle = pods["busy"]["metrics"], pods["idle"]["metrics"]
    assert (busy["threads"], idle["threads"]) == (1, 1)
    # Relations, not rates: the busy pod gets what the host's load leaves it (0.16 cores
    # at load 16 on 2 cores), the idle one nothing.
    assert busy["cpuCores"] > idle["cpuCores"]
    assert busy["timesliceMeanMicros"] > 0
    assert busy.get("involuntarySwitchesPerSecond", 0) >= idle.get("involuntarySwitchesPerSecond", 0)
    assert pods["busy"]["cgroupId"] == os.stat(host_pods.hierarchies.unified / "kubepods/burstable" / f"pod{uids['busy']}").st_ino
    status, metrics = agent.get("/metrics")
    assert status == 200 and "schedcp_agent_profiled_pods 2.0" in metrics
    assert agent.get("/healthz")[0] == 200 and agent.get("/readyz")[0] == 200
    core.delete_node(node)


def test_graceful_stop_leaves_a_final_condition(kube_cluster, start_agent, tmp_path) -> None:
    node = node_name(tmp_path, "s")
    agent = start_agent(node)
    wait_until(lambda: condition(state_of(kube_cluster, node) or {}, "Ready"), STARTUP_SECONDS, "first status", agent.recent)
    agent.stop()
    assert agent.process.returncode == 0, agent.recent()
    assert condition(state_of(kube_cluster, node), "Ready")["reason"] == "AgentStopped"
    assert any("leaving the active scheduler loaded" in m for m in agent.messages())
