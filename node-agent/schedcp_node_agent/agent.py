"""The agent's loop: observe the kernel, apply the spec, watch health, profile, report.

One thread does everything that touches the kernel, so loads, unloads and map writes
never race; watches run in background threads and only wake it. The health check runs
every turn (a fraction of a second), which is what bounds the time from an ejection to
the fallback; reconciles run when something changed or on a timer. Every status interval
the agent renews its node's Lease (its liveness) and writes its status only if the
operator would see something new (status_gate.py says when).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from kubernetes import client
from pydantic import BaseModel

from schedcp.api.v1alpha1.base import Condition, ConditionStatus, ConditionType, now
from schedcp.api.v1alpha1.nodestate import (
    NodeSchedulerStateSpec,
    NodeSchedulerStateStatus,
    Profiling,
    WorkloadClass,
)
from schedcp.conditions import set_condition
from schedcp.transport import API_ERRORS, describe
from schedcp_node_agent import __version__
from schedcp_node_agent.applier import DEFAULT_SCX_DIR, Applier, HealthPolicy, Notice, Verdict
from schedcp_node_agent.artifacts import ArtifactSource, ConfigMapArtifacts, DirectoryArtifacts
from schedcp_node_agent.facts import gather_facts
from schedcp_node_agent.host import HostPaths
from schedcp_node_agent.lease import NodeLease
from schedcp_node_agent.local_state import MemoryFile
from schedcp_node_agent.node_state import NodeStateClient, pod_reflector, pods_of
from schedcp_node_agent.ops_server import AgentMetrics, Probes
from schedcp_node_agent.pod_profiles import PodProfiles
from schedcp_node_agent.sched_ext import SchedExt
from schedcp_node_agent.scx_process import ScxSupervisor
from schedcp_node_agent.status_gate import StatusGate
from schedcp_node_agent.tier2 import Tier2Profiler

log = logging.getLogger("schedcp.agent")

REGISTER_RETRY_MAX_SECONDS = 30.0


class AgentConfig(BaseModel):
    node_name: str
    host: HostPaths = HostPaths()
    bpftool: list[str] = ["bpftool"]
    artifacts_namespace: str = "schedcp-system"
    lease_namespace: str = "schedcp-system"
    artifacts_dir: Path | None = None
    scx_dir: Path = DEFAULT_SCX_DIR
    profile_hz: float = 1.0
    window_seconds: int = 60
    kubepods: str | None = None
    bcc_python: list[str] = []
    health_interval_seconds: float = 0.25
    reconcile_interval_seconds: float = 30.0
    status_interval_seconds: float = 10.0  # the Lease's renewal; a status only when it has news
    status_refresh_seconds: float = 300.0  # a status at least this often, news or not
    unload_on_exit: bool = False
    health: HealthPolicy = HealthPolicy()


class NodeAgent:
    def __init__(self, config: AgentConfig, api: client.ApiClient, metrics: AgentMetrics, probes: Probes) -> None:
        self.config = config
        self.metrics = metrics
        self.probes = probes
        self.state = NodeStateClient(api, config.node_name)
        self.lease = NodeLease(api, config.node_name, config.lease_namespace, config.status_interval_seconds)
        self.gate = StatusGate(config.status_interval_seconds, config.window_seconds, config.status_refresh_seconds)
        self.pods = pod_reflector(api, config.node_name)
        artifacts: ArtifactSource = (
            DirectoryArtifacts(config.artifacts_dir) if config.artifacts_dir
            else ConfigMapArtifacts(api, config.artifacts_namespace)
        )
        self.kernel = SchedExt(config.host, config.bpftool)
        self.applier = Applier(self.kernel, artifacts, MemoryFile(config.host.state_dir), config.health,
                               scx=ScxSupervisor(config.scx_dir, config.host.state_dir))
        tier2 = Tier2Profiler(config.bcc_python, window_seconds=config.window_seconds) if config.bcc_python else None
        self.profiles = PodProfiles(config.host, config.profile_hz, config.window_seconds, config.kubepods, tier2)
        self.conditions: list[Condition] = []
        self.generation: int | None = None

    def run(self, stop: threading.Event) -> None:
        if not self._register(stop):
            return
        self.state.reflector.start()
        self.pods.start()
        self.state.reflector.synced.wait(timeout=30)
        self._post(self.applier.adopt())
        if self.profiles.tier2:
            self.profiles.tier2.start()
        due = {"reconcile": 0.0, "status": 0.0, "profile": 0.0}
        while not stop.is_set():
            dirty = self._turn(due)
            if dirty or time.monotonic() >= due["status"]:
                self._renew_lease()
                self._write_status(forced=dirty)
                due["status"] = time.monotonic() + self.config.status_interval_seconds
            self.probes.loop_turned()
            stop.wait(self.config.health_interval_seconds)
        self._shut_down()

    def _register(self, stop: threading.Event) -> bool:
        """This node's object, created if missing. An API server that is down or silent at
        start is waited for, as later outages are: a DaemonSet pod that exits for it would
        only add a crash-loop back-off to the wait."""
        delay = 1.0
        while not stop.is_set():
            try:
                self.state.ensure_exists()
                return True
            except API_ERRORS as error:
                log.warning("cannot register this node's state yet (%s); again in %.0f s", describe(error), delay)
                stop.wait(delay)
                delay = min(delay * 2, REGISTER_RETRY_MAX_SECONDS)
        return False

    def _turn(self, due: dict[str, float]) -> bool:
        notices = self.applier.check_health()
        self.metrics.ejections.inc(sum(n.reason == "SchedulerEjected" for n in notices))
        self._post(notices)
        dirty = bool(notices)
        spec_moved = self.state.reflector.changed.is_set()
        pods_moved = self.pods.changed.is_set()
        if spec_moved or pods_moved or time.monotonic() >= due["reconcile"]:
            self.state.reflector.changed.clear()
            self.pods.changed.clear()
            self.profiles.update_pods(pods_of(self.pods))
            dirty |= self._reconcile(spec_moved)
            due["reconcile"] = time.monotonic() + self.config.reconcile_interval_seconds
        if time.monotonic() >= due["profile"]:
            with self.metrics.sample_seconds.time():
                self.profiles.sample()
            self.metrics.profiled_pods.set(self.profiles.count())
            due["profile"] = time.monotonic() + 1.0 / self.config.profile_hz
        return dirty

    def _reconcile(self, spec_moved: bool) -> bool:
        spec, self.generation = self.state.spec()
        verdict = self.applier.reconcile(spec)
        self.applier.sync_classes(self._class_map(spec))
        self.metrics.reconciles.labels(verdict.reason).inc()
        self._post(verdict.notices)
        before = [c.model_copy() for c in self.conditions]
        self._set_ready(verdict)
        return spec_moved or bool(verdict.notices) or before != self.conditions

    def _class_map(self, spec: NodeSchedulerStateSpec) -> dict[int, WorkloadClass]:
        ids = self.profiles.cgroup_ids()
        return {ids[p.uid]: WorkloadClass(p.workload_class) for p in spec.pod_classes if p.uid in ids}

    def _set_ready(self, verdict: Verdict) -> None:
        self.conditions = set_condition(
            self.conditions, type=ConditionType.READY, status=verdict.status, reason=verdict.reason,
            message=verdict.message, observed_generation=self.generation,
        )

    def status(self) -> NodeSchedulerStateStatus:
        active = self.applier.active()
        self.metrics.sched_ext_enabled.set(1 if active.state == "enabled" else 0)
        memory = self.applier.memory
        ejections = sorted(memory.ejected.values(), key=lambda e: e.time)
        return NodeSchedulerStateStatus(
            observed_generation=self.generation,
            conditions=self.conditions,
            agent_version=__version__,
            heartbeat_time=now(),
            kernel=gather_facts(self.config.host),
            active=active,
            last_known_good=memory.last_known_good,
            last_ejection=ejections[-1] if ejections else None,
            preflight=self.applier.preflight,
            profiling=Profiling(
                tier=self.profiles.tier, reason=self.profiles.tier_reason,
                window_seconds=self.config.window_seconds, pods=self.profiles.summaries(),
            ),
        )

    def _renew_lease(self) -> None:
        try:
            self.lease.renew()
        except API_ERRORS as error:  # the next renewal is one interval away
            self.metrics.lease_renewals.labels("error").inc()
            log.warning("lease renewal failed: %s", describe(error))
            return
        self.metrics.lease_renewals.labels("ok").inc()

    def _write_status(self, forced: bool = True) -> None:
        status, clock = self.status(), time.monotonic()
        if not forced and self.gate.due(status, clock) is None:
            self.metrics.status_writes.labels("unchanged").inc()
            return
        try:
            self.state.write_status(status)
        except API_ERRORS as error:  # not recorded as written: the next turn tries again
            self.metrics.status_writes.labels("error").inc()
            log.warning("status write failed: %s", describe(error))
            return
        self.gate.written(status, clock)
        self.metrics.status_writes.labels("ok").inc()
        if not self.probes.ready.is_set():
            log.info("first status written")  # how long a start took, in the log
        self.probes.ready.set()

    def _post(self, notices: list[Notice]) -> None:
        for notice in notices:
            log.info("event %s: %s", notice.reason, notice.message, extra={"reason": notice.reason})
            self.state.post(notice)

    def _shut_down(self) -> None:
        self.state.reflector.stop()
        self.pods.stop()
        if self.profiles.tier2:
            self.profiles.tier2.stop()
        if self.config.unload_on_exit:
            verdict = self.applier.reconcile(NodeSchedulerStateSpec())
            self._post(verdict.notices)
        elif self.applier.runs_process():
            log.info("leaving the scx process running: the next agent process stops it and starts what the spec says")
        else:
            log.info("leaving the active scheduler loaded: it does not depend on this process")
        self._set_ready(Verdict(status=ConditionStatus.UNKNOWN, reason="AgentStopped", message="the node agent stopped"))
        self._write_status()
