"""Many simulated node agents from one loop: what the control-plane benchmark runs against.

tests/operator/simulated_nodes.py gives each node its own thread, right for a few nodes
in a test; a thousand threads would measure this process instead of the operator. Here
one loop lists every NodeSchedulerState once a second, "loads" each desired revision at
once (the host has no sched_ext; what the operator sees is the report), and writes
through a small pool of HTTP connections what a real agent would, by the agent's own
defaults: every `status_interval_seconds` it renews the node's Lease, and writes its
status at once when what it runs changed, else when the agent's StatusGate says so (the
renewals spread over that interval, as agents started at different times are). A
status carries what a real agent's does: heartbeat, kernel facts (a boot id of its own,
so no two nodes share a kernel), the active scheduler and tier-1 pod profiles, with the
web and batch metrics of the tests so that the offline planner chooses latency-class.
These numbers hold still, where a real pod's move with every sample: after a window of
settling a simulated node writes only at the refresh, a real one once per window.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION, RevisionReference, SchedulingMetrics, now
from schedcp.api.v1alpha1.nodestate import (
    ActiveScheduler,
    KernelFacts,
    NodeSchedulerStateSpec,
    NodeSchedulerStateStatus,
    PodProfile,
    Profiling,
    ProfilingTier,
)
from schedcp.transport import API_ERRORS, describe
from schedcp_node_agent.agent import AgentConfig
from schedcp_node_agent.lease import NodeLease
from schedcp_node_agent.status_gate import StatusGate

log = logging.getLogger("benchmarks.fleet")

PLURAL = "nodeschedulerstates"
WINDOW_SECONDS = 10  # the tests' agents' (--window-seconds 10), so that a canary is judged after 10 s
WORKERS = 8
INTERVAL_SECONDS = AgentConfig.model_fields["status_interval_seconds"].default
REFRESH_SECONDS = AgentConfig.model_fields["status_refresh_seconds"].default
BATCH_EVERY = 10  # one node in ten of every group also runs a batch pod
# A wake-heavy web pod and a CPU-bound batch pod as tier 1 sees them under EEVDF (the
# numbers of tests/operator/simulated_nodes.py); under the loaded revision the web pod's
# run delay drops to a fifth, so the canary passes.
WEB = SchedulingMetrics(cpu_cores=0.05, run_delay_p50_micros=900, run_delay_p99_micros=4000,
                        voluntary_switches_per_second=400, timeslice_mean_micros=120, samples=20)
BATCH = SchedulingMetrics(cpu_cores=0.9, run_delay_p50_micros=1500, run_delay_p99_micros=3000,
                          voluntary_switches_per_second=1, timeslice_mean_micros=20_000, samples=20)


def under_revision(metrics: SchedulingMetrics, loaded: bool) -> SchedulingMetrics:
    if not loaded or (metrics.cpu_cores or 0) > 0.5:
        return metrics
    return metrics.model_copy(update={"run_delay_p50_micros": metrics.run_delay_p50_micros // 5,
                                      "run_delay_p99_micros": metrics.run_delay_p99_micros // 5})


@dataclass
class SimNode:
    name: str
    pods: list[tuple[str, str]] = field(default_factory=list)  # (name, app)
    boot_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    loaded: RevisionReference | None = None
    due: float = 0.0  # monotonic time of its next Lease renewal
    changed: bool = True  # what it runs changed since its last report
    gate: StatusGate = field(default_factory=lambda: StatusGate(INTERVAL_SECONDS, WINDOW_SECONDS, REFRESH_SECONDS))

    def status(self, namespace: str) -> NodeSchedulerStateStatus:
        profiles = [PodProfile(namespace=namespace, name=pod,
                               metrics=under_revision(WEB if app == "web" else BATCH, self.loaded is not None))
                    for pod, app in self.pods]
        active = ActiveScheduler(state="enabled", ops="schedcp_sim", revision=self.loaded) if self.loaded \
            else ActiveScheduler(state="disabled")
        return NodeSchedulerStateStatus(
            heartbeat_time=now(), kernel=KernelFacts(release="simulated", boot_id=self.boot_id, sched_ext=True),
            active=active, profiling=Profiling(tier=ProfilingTier.PROC, window_seconds=WINDOW_SECONDS, pods=profiles))


class Fleet:
    """`count` nodes, each with a web pod; one in ten of each group also runs a batch pod.
    Node i's pods carry the label `group: g<i mod groups>`, so that `groups` policies can
    each select a disjoint part of the fleet, and every part looks alike."""

    def __init__(self, api: client.ApiClient, namespace: str, count: int, period: float = 1.0, groups: int = 1) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.namespace = namespace
        self.period = period
        self.nodes = {f"sim-{i:04d}": SimNode(f"sim-{i:04d}") for i in range(count)}
        self.leases = {name: NodeLease(api, name, namespace, INTERVAL_SECONDS) for name in self.nodes}
        self.turns: list[float] = []  # seconds per full pass over the fleet
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="fleet")
        self._stop = threading.Event()
        list(self._pool.map(self._create, self.nodes.values(), [(i // groups) % BATCH_EVERY == 0 for i in range(count)],
                            [f"g{i % groups}" for i in range(count)]))
        start = time.monotonic()
        for i, node in enumerate(self.nodes.values()):
            node.due = start + INTERVAL_SECONDS * i / count
        self._thread = threading.Thread(target=self._run, name="fleet", daemon=True)
        self._thread.start()

    def _create(self, node: SimNode, with_batch: bool, group: str) -> None:
        self.core.create_node({"metadata": {"name": node.name, "labels": {"kubernetes.io/hostname": node.name}}})
        self.custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "NodeSchedulerState", "metadata": {"name": node.name}, "spec": {}})
        for app in ("web", "batch") if with_batch else ("web",):
            pod = f"{app}-{node.name}"
            self.core.create_namespaced_pod(self.namespace, {
                "metadata": {"name": pod, "labels": {"app": app, "group": group}},
                "spec": {"nodeName": node.name, "containers": [{"name": "main", "image": "registry.invalid/none"}],
                         # The nodes have no kubelet: they go NotReady and would get their pods evicted.
                         "tolerations": [{"operator": "Exists"}]}})
            node.pods.append((pod, app))

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._turn()
            # An API server outage must not end the loop: the fleet would shrink to nothing
            # without a word and the benchmark would measure that.
            except API_ERRORS as error:
                log.warning("fleet turn failed: %s", describe(error))
            self.turns.append(time.monotonic() - started)
            self._stop.wait(max(0.0, self.period - (time.monotonic() - started)))

    def _turn(self) -> None:
        listed = self.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]
        for item in listed:
            node = self.nodes.get(item["metadata"]["name"])
            if node is not None:
                desired = NodeSchedulerStateSpec.model_validate(item.get("spec") or {}).desired_revision
                node.changed |= desired != node.loaded
                node.loaded = desired
        clock = time.monotonic()
        list(self._pool.map(self._report, [n for n in self.nodes.values() if n.changed or n.due <= clock]))

    def passes_per_heartbeat(self) -> int:
        """Loop passes in which every node reports at least once."""
        return math.ceil(INTERVAL_SECONDS / self.period) + 1

    def _report(self, node: SimNode) -> None:
        forced, clock = node.changed, time.monotonic()
        node.changed, node.due = False, clock + INTERVAL_SECONDS
        try:
            self.leases[node.name].renew()
            status = node.status(self.namespace)
            if forced or node.gate.due(status, clock) is not None:
                self.custom.patch_cluster_custom_object_status(GROUP, VERSION, PLURAL, node.name,
                                                               {"status": status.to_wire()})
                node.gate.written(status, clock)
        except client.ApiException as error:
            log.warning("node %s: write refused: %s", node.name, describe(error))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self._pool.shutdown(wait=True)
