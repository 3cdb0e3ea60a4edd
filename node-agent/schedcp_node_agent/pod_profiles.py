"""The pods this node runs, as the profiler and the class map see them.

Joins the API's view (pods bound to this node: uid, QoS class, container ids) with the
node's view (their cgroups), tracks each resolved pod in the tier-1 profiler and turns
the window summaries into the bounded list that `status.profiling` carries. A pod
whose cgroup does not exist yet (still starting) is retried on the next pod update.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

from schedcp.api.v1alpha1.nodestate import PodProfile, ProfilingTier

from schedcp_node_agent.host import HostPaths
from schedcp_node_agent.pod_cgroups import PodCgroup, PodCgroupNotFound, PodCgroupResolver, QosClass
from schedcp_node_agent.profiler import Profiler

log = logging.getLogger("schedcp.agent.pods")

MAX_REPORTED_PODS = 256


def tier2_unavailable_reason(host: HostPaths, release: str) -> str:
    """Why the eBPF (BCC) tier cannot run here; BCC compiles against the running kernel's headers."""
    if importlib.util.find_spec("bcc") is None:
        return "BCC (python3-bpfcc) is not installed in the agent image"
    headers = host.root / "lib" / "modules" / release / "build"
    if not headers.exists() and not (host.sys / "kernel" / "kheaders.tar.xz").exists():
        return f"no kernel headers for {release} (neither {headers} nor CONFIG_IKHEADERS)"
    return "the eBPF tier is not part of this agent version"


class _Pod:
    def __init__(self, namespace: str, name: str, cgroup: PodCgroup) -> None:
        self.namespace, self.name, self.cgroup = namespace, name, cgroup


class PodProfiles:
    def __init__(self, host: HostPaths, rate_hz: float, window_seconds: float, kubepods: str | None = None) -> None:
        self.profiler = Profiler(window_seconds=window_seconds, rate_hz=rate_hz, proc=host.proc)
        self.resolver: PodCgroupResolver | None = None
        try:
            self.resolver = PodCgroupResolver(host.cgroup, kubepods)
        except FileNotFoundError as error:
            log.warning("no cgroup hierarchy to profile: %s", error)
        release = (host.proc / "sys" / "kernel" / "osrelease").read_text().strip()
        self.tier = ProfilingTier.PROC
        self.tier_reason = "tier 1 (/proc and cgroup files); tier 2 unavailable: " + tier2_unavailable_reason(host, release)
        self._pods: dict[str, _Pod] = {}

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
            PodProfile(namespace=p.namespace, name=p.name, cgroup_id=p.cgroup.cgroup_id, metrics=self.profiler.summary(uid))
            for uid, p in self._pods.items()
        ]
        profiles.sort(key=lambda p: p.metrics.cpu_cores or 0.0, reverse=True)
        return profiles[:MAX_REPORTED_PODS]
