"""Acceptance: on real cgroups with real processes, the tier-1 profile tells a busy pod
from an idle one, and a CPU-capped pod by its throttling.

Assertions are relations between pods measured in the same run, not rates: on a machine
shared with other work the pods get whatever share the host's load leaves them (a busy
pod measured 0.21 cores at load 8 on 2 cores), and the profile is right to say so.
"""

from __future__ import annotations

import os
import threading

from schedcp_cli.host_pods import HostPods
from schedcp_node_agent.pod_cgroups import PodCgroupResolver, QosClass
from schedcp_node_agent.profiler import Profiler

SPIN = ["sh", "-c", "while :; do :; done"]
# Far below what the busy pod gets at any load a test machine sees, so that the cap binds
# (the capped pod is throttled) and the busy pod gets more than the capped one whatever
# the load: with a cap near the load-reduced share the two would be a coin toss.
CAP_CORES = 0.02


def test_profile_tells_busy_idle_and_throttled_pods_apart(host_pods: HostPods) -> None:
    busy, idle, capped = host_pods.pod(), host_pods.pod(), host_pods.pod()
    spinners = len(os.sched_getaffinity(0)) + 1  # more than CPUs: spinners must queue and be preempted
    for _ in range(spinners):
        host_pods.spawn(busy, SPIN)
    host_pods.spawn(idle, ["sleep", "1000"])
    host_pods.limit_cpu(capped, CAP_CORES)
    host_pods.spawn(capped, SPIN)

    resolver = PodCgroupResolver()
    cgroups = {uid: resolver.resolve(uid, QosClass.BURSTABLE) for uid in (busy, idle, capped)}
    profiler = Profiler(window_seconds=2, rate_hz=5)
    for uid, cgroup in cgroups.items():
        profiler.track(uid, cgroup)
    stop = threading.Event()
    threading.Timer(2.2, stop.set).start()
    profiler.run(stop)
    b, i, c = (profiler.summary(uid) for uid in (busy, idle, capped))

    assert b.samples >= 3 and i.samples >= 3 and c.samples >= 3
    assert b.cpu_cores is not None and c.cpu_cores is not None and i.cpu_cores is not None
    assert b.cpu_cores > c.cpu_cores > i.cpu_cores
    assert (b.threads, i.threads, c.threads) == (spinners, 1, 1)
    assert b.involuntary_switches_per_second > i.involuntary_switches_per_second  # type: ignore[operator]
    assert b.run_delay_per_second_micros > i.run_delay_per_second_micros  # type: ignore[operator]
    assert b.run_delay_p50_micros is not None and b.run_delay_p50_micros > 0
    assert b.timeslice_mean_micros is not None

    assert c.throttled_periods_per_second is not None and c.throttled_periods_per_second > 0
    assert c.throttled_micros_per_second is not None and c.throttled_micros_per_second > 0
    assert (b.throttled_periods_per_second, i.throttled_periods_per_second) == (0, 0)

    for metrics, cgroup in ((b, cgroups[busy]), (i, cgroups[idle])):
        has_psi = cgroup.unified_path is not None and (cgroup.unified_path / "cpu.pressure").exists()
        assert (metrics.cpu_pressure_some_avg10 is not None) == has_psi
