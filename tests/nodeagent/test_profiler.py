"""The profile's arithmetic, on a fake /proc and cgroup tree with a driven clock.

Every expected value below is worked out by hand from the counters written in the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from schedcp_node_agent.pod_cgroups import PodCgroup
from schedcp_node_agent.profiler import Profiler

SECOND = 1_000_000_000
STATUS = "Name:\tx\nState:\tR (running)\nvoluntary_ctxt_switches:\t{}\nnonvoluntary_ctxt_switches:\t{}\n"
# cpu.stat as each cgroup version writes it, given throttled periods and nanoseconds.
CPU_STAT = {
    1: "nr_periods 9\nnr_throttled {periods}\nthrottled_time {ns}\n",
    2: "usage_usec 1\nnr_periods 9\nnr_throttled {periods}\nthrottled_usec {us}\n",
}

Counters = tuple[int, int, int, int, int]  # cpu ns, run delay ns, timeslices, voluntary, involuntary


class FakeNode:
    def __init__(self, root: Path, version: Literal[1, 2]) -> None:
        self.proc = root / "proc"
        self.pod = PodCgroup(
            pod_uid="u",
            path=root / "cpu" / "pod",
            version=version,
            unified_path=root / "unified" / "pod" if version == 2 else None,
            cgroup_id=None,
        )
        self.pod.path.mkdir(parents=True)
        if self.pod.unified_path:
            self.pod.unified_path.mkdir(parents=True, exist_ok=True)
        self.times: list[int] = []

    def clock(self) -> int:
        return self.times.pop(0)

    def state(self, at: int, threads: dict[int, Counters], throttled: tuple[int, int]) -> None:
        """The node as the next sample will read it. Pid 999 is listed but already gone."""
        self.times.append(at)
        (self.pod.path / "cgroup.procs").write_text("10\n999\n")
        for stale in self.proc.glob("10/task/*/*"):
            stale.unlink()
        for tid, (cpu, delay, slices, voluntary, involuntary) in threads.items():
            task = self.proc / "10" / "task" / str(tid)
            task.mkdir(parents=True, exist_ok=True)
            (task / "schedstat").write_text(f"{cpu} {delay} {slices}\n")
            (task / "status").write_text(STATUS.format(voluntary, involuntary))
        for task in self.proc.glob("10/task/*"):
            if not any(task.iterdir()):
                task.rmdir()
        periods, ns = throttled
        stat = CPU_STAT[self.pod.version].format(periods=periods, ns=ns, us=ns // 1000)
        (self.pod.path / "cpu.stat").write_text(stat)
        if self.pod.unified_path:
            (self.pod.unified_path / "cpu.pressure").write_text(
                "some avg10=12.50 avg60=3.00 avg300=1.00 total=5\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
            )


@pytest.fixture(params=[1, 2], ids=["v1", "v2"])
def node(request: pytest.FixtureRequest, tmp_path: Path) -> FakeNode:
    return FakeNode(tmp_path, request.param)


def test_profile_over_a_window_with_threads_coming_and_going(node: FakeNode) -> None:
    profiler = Profiler(window_seconds=10, rate_hz=1, proc=node.proc, clock=node.clock)
    profiler.track("pod", node.pod)
    # Thread 101 brings history from before tracking: only its growth counts.
    node.state(0, {10: (0, 0, 0, 0, 0), 101: (SECOND, 5_000_000, 100, 50, 50)}, (0, 0))
    profiler.sample()
    assert profiler.summary("pod").samples == 0  # the first sample is only a baseline
    # +0.75 s CPU, +12 ms waiting over 20 timeslices (600 us each), 4 voluntary, 16 involuntary.
    node.state(
        SECOND, {10: (SECOND // 2, 10_000_000, 10, 4, 6), 101: (SECOND * 5 // 4, 7_000_000, 110, 50, 60)}, (3, 1_000_000)
    )
    profiler.sample()
    # 101 exited; 102 was born in this interval: all of its counters are new work.
    # +0.75 s CPU, +30 ms waiting over 20 timeslices (1500 us each), 4 voluntary, 10 involuntary.
    node.state(
        2 * SECOND, {10: (SECOND, 10_000_000, 20, 8, 6), 102: (SECOND // 4, 30_000_000, 10, 0, 10)}, (5, 3_000_000)
    )
    profiler.sample()

    metrics = profiler.summary("pod")

    assert metrics.samples == 2
    assert metrics.cpu_cores == pytest.approx(0.75)
    assert metrics.run_delay_per_second_micros == 21_000
    assert (metrics.run_delay_p50_micros, metrics.run_delay_p99_micros) == (600, 1500)
    assert metrics.timeslice_mean_micros == 37_500
    assert metrics.voluntary_switches_per_second == pytest.approx(4)
    assert metrics.involuntary_switches_per_second == pytest.approx(13)
    assert metrics.threads == 2
    assert metrics.throttled_periods_per_second == pytest.approx(2.5)
    assert metrics.throttled_micros_per_second == 1500
    assert metrics.cpu_pressure_some_avg10 == (12.5 if node.pod.version == 2 else None)


def test_window_keeps_only_the_latest_intervals(node: FakeNode) -> None:
    profiler = Profiler(window_seconds=2, rate_hz=1, proc=node.proc, clock=node.clock)
    profiler.track("pod", node.pod)
    # Busy for the first two intervals, idle for the last two: the window sees only idleness.
    for second, cpu in enumerate([0, 1, 2, 2, 2]):
        node.state(second * SECOND, {10: (cpu * SECOND, 0, cpu, 0, 0)}, (0, 0))
        profiler.sample()

    metrics = profiler.summary("pod")

    assert (metrics.samples, metrics.cpu_cores, metrics.timeslice_mean_micros) == (2, 0, None)
    assert metrics.run_delay_p50_micros is None  # no timeslice, no wait to measure


def test_v2_without_the_cpu_controller_reports_no_throttling(tmp_path: Path) -> None:
    node = FakeNode(tmp_path, 2)
    profiler = Profiler(proc=node.proc, clock=node.clock)
    profiler.track("pod", node.pod)
    for second in range(2):
        node.state(second * SECOND, {10: (0, 0, 0, 0, 0)}, (0, 0))
        (node.pod.path / "cpu.stat").write_text("usage_usec 1\nuser_usec 1\nsystem_usec 0\n")
        profiler.sample()

    metrics = profiler.summary("pod")

    assert (metrics.throttled_periods_per_second, metrics.throttled_micros_per_second) == (None, None)


def test_tracking_the_same_cgroup_again_keeps_the_window_and_forget_drops_it(node: FakeNode) -> None:
    profiler = Profiler(proc=node.proc, clock=node.clock)
    profiler.track("pod", node.pod)
    for second in range(2):
        node.state(second * SECOND, {10: (0, 0, 0, 0, 0)}, (0, 0))
        profiler.sample()
    profiler.track("pod", node.pod)
    assert profiler.summary("pod").samples == 1
    profiler.forget("pod")
    with pytest.raises(KeyError):
        profiler.summary("pod")
