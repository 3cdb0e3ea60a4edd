"""The pods this node runs, as the profiler and the class map see them.

Joins the API's view (pods bound to this node: uid, QoS class, container ids) with the
node's view (their cgroups), tracks each resolved pod in the tier-1 profiler and turns
the window summaries into the bounded list that `status.profiling` carries. A pod
whose cgroup does not exist yet (still starting) is retried on the next pod update.
"""

from __future__ import annotations

import logging
from typing import Any

from schedcp.api.v1alpha1.base import SchedulingMetrics
from schedcp.api.v1alpha1.nodestate import PodProfile, ProfilingTier
from schedcp_node_agent.host import HostPaths
from schedcp_node_agent.pod_cgroups import PodCgroup, PodCgroupNotFound, PodCgroupResolver, QosClass
from schedcp_node_agent.profiler import Profiler
from schedcp_node_agent.tier2 import Tier2Profiler

log = logging.getLogger("schedcp.agent.pods")

MAX_REPORTED_PODS = 256


class _Pod:
    def __init__(self, namespace: str, name: str, cgroup: PodCgroup) -> None:
        self.namespace, self.name, self.cgroup = namespace, name, cgroup


class PodProfiles:
    def __init__(
        self, host: HostPaths, rate_hz: float, window_seconds: float,
        kubepods: str | None = None, tier2: Tier2Profiler | None = None,
    ) -> None:
        self.profiler = Profiler(window_seconds=window_seconds, rate_hz=rate_hz, proc=host.proc)
        self.tier2 = tier2
        self.resolver: PodCgroupResolver | None = None
        try:
            self.resolver = PodCgroupResolver(host.cgroup, kubepods)
        except FileNotFoundError as error:
            log.warning("no cgroup hierarchy to profile: %s", error)
        self._pods: dict[str, _Pod] = {}

    @property
    def tier(self) -> ProfilingTier:
        return ProfilingTier.EBPF if self.tier2 and self.tier2.ready.is_set() else ProfilingTier.PROC

    @property
    def tier_reason(self) -> str:
        if self.tier2 is None:
            return "tier 1 (/proc and cgroup files); tier 2 is off: no BCC Python configured (--bcc-python)"
        if self.tier2.ready.is_set():
            return "tier 2: BCC run-queue latency, wakeups and migrations per cgroup, on top of tier 1"
        if self.tier2.failure:
            return f"tier 1; tier 2 failed: {self.tier2.failure}"
        return "tier 1 while the BCC collector compiles its program"

    def update_pods(self, pods: list[dict[str, Any]]) -> None:
        present = set()
        for pod in pods:
            uid = pod["metadata"]["uid"]
            present.add(uid)
            cgroup = self._resolve(pod)
            if cgroup is None:
                continue
            self._pods[uid] = _Pod(pod["metadata"]["namespace"], pod["metadata"]["name"], cgroup)
            self.profiler.track(uid, cgroup)
        for gone in self._pods.keys() - present:
            del self._pods[gone]
            self.profiler.forget(gone)

    def _resolve(self, pod: dict[str, Any]) -> PodCgroup | None:
        if self.resolver is None:
            return None
        status = pod.get("status") or {}
        qos = status.get("qosClass")
        containers = [c["containerID"] for c in status.get("containerStatuses") or [] if c.get("containerID")]
        try:
            return self.resolver.resolve(pod["metadata"]["uid"], QosClass(qos) if qos else None, containers)
        except PodCgroupNotFound:
            return None

    def sample(self) -> None:
        self.profiler.sample()

    def count(self) -> int:
        return len(self._pods)

    def cgroup_ids(self) -> dict[str, int]:
        return {uid: pod.cgroup.cgroup_id for uid, pod in self._pods.items() if pod.cgroup.cgroup_id is not None}

    def summaries(self) -> list[PodProfile]:
        profiles = [
            PodProfile(namespace=p.namespace, name=p.name, cgroup_id=p.cgroup.cgroup_id, metrics=self._metrics(uid, p))
            for uid, p in self._pods.items()
        ]
        profiles.sort(key=lambda p: p.metrics.cpu_cores or 0.0, reverse=True)
        return profiles[:MAX_REPORTED_PODS]

    def _metrics(self, uid: str, pod: _Pod) -> SchedulingMetrics:
        metrics = self.profiler.summary(uid)
        if self.tier != ProfilingTier.EBPF or pod.cgroup.cgroup_id is None:
            return metrics
        assert self.tier2 is not None
        return metrics.model_copy(update=self.tier2.summary(pod.cgroup.cgroup_id).model_dump())
