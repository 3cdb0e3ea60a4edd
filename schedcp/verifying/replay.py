"""A policy's measured profile, replayed in the verifier's VM by the `replay` workload.

The operator holds a profile as SchedulingMetrics of the protected pods and of the rest,
rates and sizes summed over pods. The protected pods become threads that wake on a timer
and run a burst per wakeup; the rest become CPU hogs. Every value is bounded, because a
profile is measured on nodes of any size (or comes from anyone who can write one) and the
replay must stay a small, finite run on the VM's one or two vCPUs: about 1-3 s of guest
time, where an instruction takes 4 ns.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from schedcp.api.v1alpha1.base import SchedulingMetrics

# Eight wakers already queue behind each other on two vCPUs; more only add TCG time.
MAX_THREADS = 8
# A 500 µs period: still several times what a timer wakeup and a context switch cost in
# the guest, so the replay measures the scheduler and not the emulated interrupt path.
MAX_WAKEUPS = 2000
# Sparser wakers still give 50 latency samples per thread in a 2 s run.
MIN_WAKEUPS = 25
# SCX_SLICE_DFL: a longer burst is cut into slices anyway and looks the same to a scheduler.
MAX_RUN_MICROS = 20_000
# A thread on its CPU more than half of the time is a hog, not a waker: its timer would
# fire while it still runs. (0.5 at MAX_RUN_MICROS is MIN_WAKEUPS, so both bounds hold.)
MAX_DUTY = 0.5
# Eight hogs saturate two vCPUs four times over; more only dilute each one's share.
MAX_HOGS = 8
MIN_DURATION_MS, MAX_DURATION_MS = 200, 3000
DURATION_MS = 2000


class ReplayShape(BaseModel):
    """The `replay` workload's arguments; the defaults are a probe for an unmeasured profile."""

    threads: Annotated[int, Field(ge=1, le=MAX_THREADS)] = 2
    wakeups_per_second: Annotated[int, Field(ge=MIN_WAKEUPS, le=MAX_WAKEUPS)] = 500
    run_micros_per_wakeup: Annotated[int, Field(ge=1, le=MAX_RUN_MICROS)] = 200
    hogs: Annotated[int, Field(ge=0, le=MAX_HOGS)] = 0
    duration_ms: Annotated[int, Field(ge=MIN_DURATION_MS, le=MAX_DURATION_MS)] = DURATION_MS

    @model_validator(mode="after")
    def _wakers_sleep(self) -> ReplayShape:
        if self.wakeups_per_second * self.run_micros_per_wakeup > MAX_DUTY * 1e6:
            raise ValueError(f"a waker may run at most {MAX_DUTY:.0%} of the time")
        return self

    def command(self) -> str:
        """The guest command line, relative to the VM's working directory."""
        return (f"bin/replay {self.duration_ms} {self.threads} {self.wakeups_per_second} "
                f"{self.run_micros_per_wakeup} {self.hogs}")


def _bounded(value: float | None, low: int, high: int, unknown: int) -> int:
    """`value`, or `unknown` when it was not measured (None or NaN), rounded into [low, high]."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value = unknown
    return round(min(max(value, low), high))


def shape_from_profile(protected: SchedulingMetrics | None, others: SchedulingMetrics | None,
                       duration_ms: int = DURATION_MS) -> ReplayShape:
    """Protected pods' wakeups spread over their threads; the others' busy CPUs as hogs.

    Wakeups are counted ones (tier 2) or else voluntary switches, each a sleep that a
    wakeup ends. The burst per wakeup is CPU time per wakeup, which counts a burst that
    preemption cut in two once; the mean timeslice stands in when wakeups are unknown.
    The total wakeup rate is kept when threads are capped, so the scheduler sees as many
    wakeups; a burst too long for its rate lowers the rate, since the burst's length is
    what a scheduler's slice decisions react to.
    """
    probe = ReplayShape()
    measured = protected or SchedulingMetrics()
    wakeups = measured.wakeups_per_second or measured.voluntary_switches_per_second
    needed_threads = math.ceil(wakeups / MAX_WAKEUPS) if wakeups and math.isfinite(wakeups) else None
    threads = _bounded(measured.threads or needed_threads, 1, MAX_THREADS, probe.threads)
    per_wakeup = measured.cpu_cores * 1e6 / wakeups if measured.cpu_cores is not None and wakeups else None
    run = _bounded(per_wakeup if per_wakeup is not None else measured.timeslice_mean_micros, 1, MAX_RUN_MICROS,
                   probe.run_micros_per_wakeup)
    rate = _bounded(wakeups / threads if wakeups is not None else None, MIN_WAKEUPS,
                    min(MAX_WAKEUPS, int(MAX_DUTY * 1e6) // run), probe.wakeups_per_second)
    hogs = _bounded(others.cpu_cores if others else 0, 0, MAX_HOGS, 0)
    return ReplayShape(threads=threads, wakeups_per_second=rate, run_micros_per_wakeup=run, hogs=hogs,
                       duration_ms=duration_ms)
