"""Tier-1 pod profile: how much CPU pods get and how long they wait for it.

Reads only /proc and cgroup files, so it works on any kernel and before any sched_ext
scheduler is loaded: it is the baseline a policy's effect is measured against. Each sample
reads every thread's cumulative scheduler counters plus the pod cgroup's throttling and
pressure; the profile is made of the differences between consecutive samples, kept in a
sliding window per pod.

Threads are read one by one because no file aggregates them: /proc/<pid>/schedstat and
/proc/<pid>/status report the thread-group leader only, not the sum of its threads.
"""

from __future__ import annotations

import errno
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from schedcp.api.v1alpha1.base import SchedulingMetrics
from schedcp_node_agent.pod_cgroups import PodCgroup, pod_pids

# ENOENT/ESRCH: the task or cgroup went away after it was listed; ENODEV: the cgroup was
# removed while open; EOPNOTSUPP: PSI is disabled on this kernel (psi=0).
_VANISHED = frozenset({errno.ENOENT, errno.ESRCH, errno.ENODEV, errno.EOPNOTSUPP})

# cpu.stat keys for (throttled periods, throttled time), and that time's unit in ns, by
# cgroup version. v2 has them only where the cpu controller is enabled.
_THROTTLING = {2: (b"nr_throttled", b"throttled_usec", 1000), 1: (b"nr_throttled", b"throttled_time", 1)}

_VOLUNTARY = b"\nvoluntary_ctxt_switches:"
_INVOLUNTARY = b"\nnonvoluntary_ctxt_switches:"


class _Work(NamedTuple):
    """Scheduler counters of a thread, or their sum over a pod. A NamedTuple rather than a
    model because a sample builds one per thread: thousands per second."""

    cpu_ns: int
    run_delay_ns: int
    timeslices: int
    voluntary: int
    involuntary: int


_NO_WORK = _Work(0, 0, 0, 0, 0)


class _Interval(NamedTuple):
    """What one pod did between two consecutive samples."""

    wall_ns: int
    work: _Work
    threads: int
    throttled: tuple[int, int] | None  # (periods, ns)
    pressure_avg10: float | None


@dataclass
class _Tracked:
    cgroup: PodCgroup
    intervals: deque[_Interval]
    threads: dict[int, _Work] = field(default_factory=dict)
    throttling: tuple[int, int] | None = None
    read_at_ns: int | None = None


_READ_SIZE = 65536


def _read(path: str) -> bytes | None:
    """A whole file, or None if its task or cgroup is gone. Raw os calls: on the hot path
    they cost half of what a Python file object does. A short read is the end of the file
    (proc and cgroup files fill the buffer as far as they can), which saves the second
    read() per file that would only return b""."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            chunks = [os.read(fd, _READ_SIZE)]
            while len(chunks[-1]) == _READ_SIZE:
                chunks.append(os.read(fd, _READ_SIZE))
            return b"".join(chunks)
        finally:
            os.close(fd)
    except OSError as error:
        if error.errno in _VANISHED:
            return None
        raise


def _status_field(status: bytes, key: bytes) -> int:
    start = status.index(key) + len(key)
    return int(status[start : status.index(b"\n", start)])


def _read_thread(task_dir: str, before: _Work | None) -> _Work | None:
    """The thread's counters. status costs twice what schedstat does to generate, and is
    skipped when schedstat has not moved: a thread that has not run since the last sample
    cannot have been switched out either. Most threads of most pods are idle."""
    schedstat = _read(f"{task_dir}/schedstat")
    if schedstat is None:
        return None
    cpu_ns, run_delay_ns, timeslices = map(int, schedstat.split())
    if before is not None and (cpu_ns, run_delay_ns, timeslices) == before[:3]:
        return before
    status = _read(f"{task_dir}/status")
    if status is None:
        return None
    return _Work(
        cpu_ns, run_delay_ns, timeslices, _status_field(status, _VOLUNTARY), _status_field(status, _INVOLUNTARY)
    )


def _read_threads(proc: str, pids: Iterable[int], before: dict[int, _Work]) -> dict[int, _Work]:
    threads: dict[int, _Work] = {}
    for pid in pids:
        try:
            tids = os.listdir(f"{proc}/{pid}/task")
        except (FileNotFoundError, ProcessLookupError):
            continue
        for tid in map(int, tids):
            work = _read_thread(f"{proc}/{pid}/task/{tid}", before.get(tid))
            if work is not None:
                threads[tid] = work
    return threads


def _read_throttling(pod: PodCgroup) -> tuple[int, int] | None:
    data = _read(str(pod.path / "cpu.stat"))
    if data is None:
        return None
    stat = {key: value for key, value in (line.split() for line in data.splitlines())}
    periods_key, time_key, unit_ns = _THROTTLING[pod.version]
    if periods_key not in stat:
        return None
    return int(stat[periods_key]), int(stat[time_key]) * unit_ns


def _read_pressure(pod: PodCgroup) -> float | None:
    """`some avg10` of the pod's cpu.pressure: the share of the last 10 s in which at least
    one of its tasks was runnable but waiting for a CPU. None without v2 or without PSI."""
    data = None if pod.unified_path is None else _read(str(pod.unified_path / "cpu.pressure"))
    if not data:
        return None
    some = data.split(b"\n", 1)[0].split()  # some avg10=1.23 avg60=... avg300=... total=...
    return float(some[1].removeprefix(b"avg10="))


def _since(now: tuple[int, ...], before: tuple[int, ...] | None) -> tuple[int, ...]:
    """Growth of cumulative counters. Counters start at zero when a thread is created, so one
    new to the pod did all its work within the interval; counters going backwards mean a new
    thread with a recycled tid (or a recreated cgroup), counted the same way."""
    if before is None or any(n < b for n, b in zip(now, before, strict=True)):
        return now
    return tuple(n - b for n, b in zip(now, before, strict=True))


def _work_since(now: dict[int, _Work], before: dict[int, _Work]) -> _Work:
    """Work of the pod's threads since the last sample. A thread that exited since then takes
    its last moments with it: only eBPF (tier 2) sees work that short-lived."""
    deltas = [_since(work, before.get(tid)) for tid, work in now.items()]
    return _Work(*(sum(column) for column in zip(_NO_WORK, *deltas, strict=True)))


def _throttled_since(now: tuple[int, int] | None, before: tuple[int, int] | None) -> tuple[int, int] | None:
    if now is None or before is None:
        return None
    periods, ns = _since(now, before)
    return periods, ns


def _percentile(ascending: Sequence[float], percent: float) -> float | None:
    """Nearest-rank percentile: always one of the observed values, which is what a small
    window should report."""
    if not ascending:
        return None
    return ascending[max(1, math.ceil(percent / 100 * len(ascending))) - 1]


def _micros(ns: float | None) -> int | None:
    return None if ns is None else round(ns / 1000)


def _throttling_rates(intervals: Sequence[_Interval]) -> tuple[float | None, int | None]:
    """Throttled periods and microseconds per second, over the intervals that report them."""
    measured = [(i.wall_ns, *i.throttled) for i in intervals if i.throttled is not None]
    if not measured:
        return None, None
    wall_ns, periods, throttled_ns = (sum(column) for column in zip(*measured, strict=True))
    seconds = wall_ns / 1e9
    return periods / seconds, round(throttled_ns / 1000 / seconds)


def _summarize(intervals: Sequence[_Interval]) -> SchedulingMetrics:
    """Rates over the whole window, and the distribution of per-interval mean waits.

    The wait distribution is over intervals, not timeslices: /proc gives each interval's
    total run delay and timeslice count, hence its mean wait per timeslice, and no finer.
    """
    if not intervals:
        return SchedulingMetrics()
    seconds = sum(i.wall_ns for i in intervals) / 1e9
    work = _Work(*(sum(column) for column in zip(*(i.work for i in intervals), strict=True)))
    waits = sorted(i.work.run_delay_ns / i.work.timeslices for i in intervals if i.work.timeslices)
    throttled_periods, throttled_micros = _throttling_rates(intervals)
    return SchedulingMetrics(
        cpu_cores=work.cpu_ns / 1e9 / seconds,
        run_delay_per_second_micros=round(work.run_delay_ns / 1000 / seconds),
        run_delay_p50_micros=_micros(_percentile(waits, 50)),
        run_delay_p99_micros=_micros(_percentile(waits, 99)),
        timeslice_mean_micros=_micros(work.cpu_ns / work.timeslices) if work.timeslices else None,
        voluntary_switches_per_second=work.voluntary / seconds,
        involuntary_switches_per_second=work.involuntary / seconds,
        throttled_periods_per_second=throttled_periods,
        throttled_micros_per_second=throttled_micros,
        threads=intervals[-1].threads,
        cpu_pressure_some_avg10=intervals[-1].pressure_avg10,
        samples=len(intervals),
    )


class Profiler:
    """Samples tracked pods and summarizes each over a sliding window.

    `clock` returns nanoseconds on a monotonic scale; it is a parameter so that tests can
    drive time. track/forget/summary may be called from other threads while run() samples.
    """

    def __init__(
        self,
        *,
        window_seconds: float = 60.0,
        rate_hz: float = 1.0,
        proc: Path = Path("/proc"),
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        if window_seconds <= 0 or rate_hz <= 0:
            raise ValueError("window_seconds and rate_hz must be positive")
        self.rate_hz = rate_hz
        self._window = max(1, round(window_seconds * rate_hz))
        self._proc = str(proc)
        self._clock = clock
        self._pods: dict[Hashable, _Tracked] = {}

    def track(self, key: Hashable, cgroup: PodCgroup) -> None:
        """Profile a pod from the next sample on, which is its baseline. Tracking it again
        with the same cgroup keeps its window; a different cgroup starts a new one."""
        tracked = self._pods.get(key)
        if tracked is None or tracked.cgroup != cgroup:
            self._pods[key] = _Tracked(cgroup, deque(maxlen=self._window))

    def forget(self, key: Hashable) -> None:
        self._pods.pop(key, None)

    def sample(self) -> None:
        # A snapshot, so that track/forget in another thread cannot break the iteration.
        for tracked in list(self._pods.values()):
            self._sample(tracked)

    def summary(self, key: Hashable) -> SchedulingMetrics:
        return _summarize(list(self._pods[key].intervals))

    def run(self, stop: threading.Event) -> None:
        """Sample at rate_hz until `stop` is set. Deadlines are fixed so that the time spent
        sampling does not slow the rate, but a late pass does not cause a burst to catch up."""
        period = 1 / self.rate_hz
        deadline = time.monotonic()
        while not stop.is_set():
            self.sample()
            deadline = max(deadline + period, time.monotonic())
            stop.wait(deadline - time.monotonic())

    def _sample(self, tracked: _Tracked) -> None:
        threads = _read_threads(self._proc, pod_pids(tracked.cgroup), tracked.threads)
        throttling = _read_throttling(tracked.cgroup)
        pressure = _read_pressure(tracked.cgroup)
        now = self._clock()
        if tracked.read_at_ns is not None and now > tracked.read_at_ns:
            tracked.intervals.append(
                _Interval(
                    wall_ns=now - tracked.read_at_ns,
                    work=_work_since(threads, tracked.threads),
                    threads=len(threads),
                    throttled=_throttled_since(throttling, tracked.throttling),
                    pressure_avg10=pressure,
                )
            )
        tracked.threads, tracked.throttling, tracked.read_at_ns = threads, throttling, now
