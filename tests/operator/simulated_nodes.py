"""Nodes for rollout tests: real Node, Pod and NodeSchedulerState objects on the real API
server, with each node's agent simulated by a thread that writes what the real agent
writes (kernel facts, heartbeats, pod profiles, the active scheduler, ejections).

The host kernel has no sched_ext, so a node "loads" a revision by reporting it; what it
does then is scripted (load, eject, never load) and so is what the pods' metrics do
under the new scheduler. The real agent in a real sched_ext kernel is the VM node's
test; here the subject is the operator's decisions across several nodes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Literal

from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION, RevisionReference, SchedulingMetrics, now
from schedcp.api.v1alpha1.nodestate import (
    ActiveScheduler,
    Ejection,
    KernelFacts,
    NodeSchedulerStateSpec,
    NodeSchedulerStateStatus,
    PodProfile,
    Preflight,
    Profiling,
    ProfilingTier,
)
from schedcp.transport import API_ERRORS, describe

log = logging.getLogger("tests.simulated_nodes")

PLURAL = "nodeschedulerstates"
WINDOW_SECONDS = 10

# A wake-heavy web pod and a CPU-bound batch pod, as tier 1 sees them under EEVDF.
WEB = SchedulingMetrics(cpu_cores=0.05, run_delay_p50_micros=900, run_delay_p99_micros=4000,
                        voluntary_switches_per_second=400, timeslice_mean_micros=120, samples=20)
BATCH = SchedulingMetrics(cpu_cores=0.9, run_delay_p50_micros=1500, run_delay_p99_micros=3000,
                          voluntary_switches_per_second=1, timeslice_mean_micros=20_000, samples=20)


@dataclass
class Behaviour:
    # refuse: the agent's preflight on the node's kernel refuses the object; nothing attaches.
    on_load: Literal["load", "eject", "stall", "refuse"] = "load"
    effect: Literal["better", "worse"] = "better"
    ejection_reason: str = "runnable task stall (watchdog)"
    verifier_line: str = "R2 invalid mem access 'scalar'"
    # A namespace whose pods get a third of their CPU time while the revision is loaded.
    hurts: str | None = None


def _under(metrics: SchedulingMetrics, loaded: bool, effect: str) -> SchedulingMetrics:
    if not loaded or (metrics.cpu_cores and metrics.cpu_cores > 0.5):
        return metrics
    factor = 0.2 if effect == "better" else 3.0
    return metrics.model_copy(update={name: int(getattr(metrics, name) * factor)
                                      for name in ("run_delay_p50_micros", "run_delay_p99_micros")})


class SimulatedNode:
    def __init__(self, api: client.ApiClient, name: str, behaviour: Behaviour | None = None,
                 boot_id: str | None = None) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.name = name
        self.behaviour = behaviour or Behaviour()
        self.loaded: RevisionReference | None = None
        self.ejection: Ejection | None = None
        self.preflight: Preflight | None = None
        self.loads: list[str] = []
        self.boot_id = boot_id or str(uuid.uuid4())
        self.core.create_node({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}})
        self.custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "NodeSchedulerState", "metadata": {"name": name}, "spec": {}})
        self._stop = threading.Event()
        self._quiet = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sim-{name}", daemon=True)
        self._thread.start()

    def add_pod(self, namespace: str, name: str, labels: dict[str, str],
                annotations: dict[str, str] | None = None) -> None:
        self.core.create_namespaced_pod(namespace, {
            "metadata": {"name": name, "labels": labels, "annotations": annotations or {}},
            "spec": {"nodeName": self.name, "containers": [{"name": "main", "image": "registry.invalid/none"}],
                     "tolerations": [{"operator": "Exists"}]}})

    def spec(self) -> NodeSchedulerStateSpec:
        obj = self.custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, self.name)
        return NodeSchedulerStateSpec.model_validate(obj.get("spec") or {})

    def pause(self) -> None:
        """The agent goes quiet: it neither loads nor reports until `resume`."""
        self._quiet.set()

    def resume(self) -> None:
        self._quiet.clear()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            if self._quiet.is_set():
                continue
            try:
                self._turn()
            # A real agent outlives an API server outage; a thread that ended here would
            # leave a test measuring fewer nodes than it made.
            except API_ERRORS as error:
                log.warning("simulated node %s: %s", self.name, describe(error))

    def _turn(self) -> None:
        desired = self.spec().desired_revision
        if desired != self.loaded and not (self.ejection and desired and self.ejection.revision == desired.name):
            self._apply(desired)
        self.custom.patch_cluster_custom_object_status(GROUP, VERSION, PLURAL, self.name,
                                                       {"status": self._status().to_wire()})

    def _apply(self, desired: RevisionReference | None) -> None:
        if desired is None or self.behaviour.on_load == "load":
            self.loaded = desired
            self.loads.append(desired.name if desired else "-")
        elif self.behaviour.on_load == "eject":
            self.loaded = None
            self.ejection = Ejection(reason=self.behaviour.ejection_reason, revision=desired.name, time=now())
        elif self.behaviour.on_load == "refuse":
            line = self.behaviour.verifier_line
            self.preflight = Preflight(revision=desired, passed=False, time=now(), log=f"0: R1=ctx() R10=fp0\n{line}",
                                       message=f"the kernel verifier of this node refused {desired.name}: {line}")

    def _status(self) -> NodeSchedulerStateStatus:
        pods = self.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={self.name}").items
        profiles = [PodProfile(namespace=p.metadata.namespace, name=p.metadata.name, metrics=self._metrics(p))
                    for p in pods]
        active = ActiveScheduler(state="enabled", ops="schedcp_sim", revision=self.loaded) if self.loaded \
            else ActiveScheduler(state="disabled")
        return NodeSchedulerStateStatus(
            heartbeat_time=now(), kernel=KernelFacts(release="simulated", boot_id=self.boot_id, sched_ext=True),
            active=active, last_ejection=self.ejection, preflight=self.preflight,
            profiling=Profiling(tier=ProfilingTier.PROC, window_seconds=WINDOW_SECONDS, pods=profiles))

    def _metrics(self, pod: client.V1Pod) -> SchedulingMetrics:
        loaded = self.loaded is not None
        # Every web tier (app web, web-other, ...) measures as a web server; the rest as batch.
        web = str((pod.metadata.labels or {}).get("app", "")).startswith("web")
        metrics = _under(WEB if web else BATCH, loaded, self.behaviour.effect)
        if loaded and pod.metadata.namespace == self.behaviour.hurts and metrics.cpu_cores:
            return metrics.model_copy(update={"cpu_cores": metrics.cpu_cores / 3})
        return metrics

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for delete in (lambda: self.custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, self.name),
                       lambda: self.core.delete_node(self.name)):
            with contextlib.suppress(client.ApiException):
                delete()
