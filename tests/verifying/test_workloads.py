"""The workload programs run on the host and report what they were asked, and a replay of
any profile stays a small, finite workload.

The host is shared and loaded, so runs are short and the checks structural: counts,
ordered percentiles, every task finished; never a timing that a busy host could break.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schedcp.api.v1alpha1.base import SchedulingMetrics
from schedcp.building import workload_binaries
from schedcp.verifying.replay import (
    MAX_DUTY,
    MAX_HOGS,
    MAX_RUN_MICROS,
    MAX_THREADS,
    MAX_WAKEUPS,
    MIN_WAKEUPS,
    ReplayShape,
    shape_from_profile,
)


@pytest.fixture(scope="module")
def binaries() -> dict[str, Path]:
    return workload_binaries()


def run(binary: Path, *args: object) -> dict[str, Any]:
    out = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, check=True, timeout=60)
    [line] = out.stdout.splitlines()
    result: dict[str, Any] = json.loads(line)
    return result


def assert_ordered(result: dict[str, Any], *keys: str) -> None:
    values = [result[k] for k in keys]
    assert values == sorted(values), dict(zip(keys, values, strict=True))


@pytest.mark.parametrize(("messages", "per"), [(1, 1), (2, 3)])
def test_schbench_serves_every_worker_and_reports_ordered_latencies(binaries, messages, per) -> None:
    result = run(binaries["schbench"], 300, messages, per, 5)
    assert (result["message_threads"], result["workers"]) == (messages, messages * per)
    assert 0 < result["samples"] <= result["requests"]
    assert_ordered(result, "wakeup_p50_us", "wakeup_p90_us", "wakeup_p99_us", "wakeup_max_us")
    # A request's latency includes its wakeup's, so every order statistic does too.
    assert result["request_p99_us"] >= result["wakeup_p99_us"]
    assert result["requests_per_s"] > 0


def test_build_runs_every_task_as_a_fresh_process_of_itself(binaries) -> None:
    result = run(binaries["build"], 40, 3, 1, 5)
    # A task whose exec failed would exit 127 and not count as finished.
    assert (result["tasks"], result["jobs"], result["finished"]) == (40, 3, 40)
    assert 0 < result["mean_turnaround_ms"] <= result["makespan_ms"]
    assert result["tasks_per_s"] == pytest.approx(40e3 / result["makespan_ms"], rel=0.05)


def test_longtail_without_batches_reports_as_before(binaries) -> None:
    result = run(binaries["longtail"], 3, 1, 1, 5)
    assert (result["workload"], result["jobs"], result["batches"]) == ("longtail", 4, 1)
    assert 0 < result["mean_completion_ms"] <= result["makespan_ms"]
    assert result["batch_makespan_p50_ms"] == pytest.approx(result["makespan_ms"], abs=0.2)


def test_longtail_batches_run_one_after_another(binaries) -> None:
    result = run(binaries["longtail"], 3, 1, 1, 5, 4)
    assert (result["jobs"], result["batches"]) == (4, 4)
    # The median batch and the two longer ones ran in sequence within the total.
    assert 3 * result["batch_makespan_p50_ms"] <= result["makespan_ms"] + 0.3
    assert 0 < result["mean_completion_ms"] <= result["makespan_ms"]


def test_replay_runs_the_command_its_shape_gives(binaries) -> None:
    shape = ReplayShape(threads=2, wakeups_per_second=200, run_micros_per_wakeup=100, hogs=1, duration_ms=300)
    program, *args = shape.command().split()
    assert program == "bin/replay"
    result = run(binaries["replay"], *args)
    assert (result["threads"], result["hogs"]) == (2, 1)
    assert 0 < result["samples"] <= 2 * (300 * 200 // 1000 + 1)
    assert_ordered(result, "p50_us", "p90_us", "p99_us", "max_us")
    assert result["mean_run_delay_us"] >= 0
    assert result["hog_units_per_s"] > 0 and result["iterations_per_us"] > 0
    assert result["work_units_per_s"] > result["hog_units_per_s"], "the wakers' bursts count as work too"


@pytest.mark.parametrize("name", ["schbench", "build", "replay"])
def test_nonsense_arguments_are_refused(binaries, name) -> None:
    assert subprocess.run([str(binaries[name]), "100", "0", "0", "0", "0"], capture_output=True).returncode == 2


WAKER = SchedulingMetrics(cpu_cores=0.17, voluntary_switches_per_second=745, timeslice_mean_micros=229, threads=3)
SPINNERS = SchedulingMetrics(cpu_cores=1.6, voluntary_switches_per_second=24, timeslice_mean_micros=33_285)


def test_protected_wakers_become_threads_and_busy_neighbours_hogs() -> None:
    shape = shape_from_profile(WAKER, SPINNERS)
    assert (shape.threads, shape.wakeups_per_second, shape.run_micros_per_wakeup, shape.hogs) == (3, 248, 228, 2)
    assert shape.command() == "bin/replay 2000 3 248 228 2"


def test_counted_wakeups_are_preferred_to_voluntary_switches() -> None:
    shape = shape_from_profile(WAKER.model_copy(update={"wakeups_per_second": 1500.0}), None)
    assert (shape.wakeups_per_second, shape.run_micros_per_wakeup, shape.hogs) == (500, 113, 0)


def test_capped_threads_keep_the_total_wakeup_rate() -> None:
    many = SchedulingMetrics(cpu_cores=0.8, voluntary_switches_per_second=8000, threads=200)
    shape = shape_from_profile(many, None)
    assert (shape.threads, shape.wakeups_per_second, shape.run_micros_per_wakeup) == (8, 1000, 100)


def test_a_burst_too_long_for_its_rate_lowers_the_rate() -> None:
    busy = SchedulingMetrics(cpu_cores=0.9, voluntary_switches_per_second=200, threads=1)
    shape = shape_from_profile(busy, None)
    assert (shape.wakeups_per_second, shape.run_micros_per_wakeup) == (111, 4500)


def test_an_unmeasured_profile_gives_the_probe() -> None:
    assert shape_from_profile(None, None) == ReplayShape()
    assert shape_from_profile(SchedulingMetrics(), SchedulingMetrics(cpu_cores=3.2)) == ReplayShape(hogs=3)


@pytest.mark.parametrize(
    "bad", [{"threads": MAX_THREADS + 1}, {"hogs": -1}, {"wakeups_per_second": 2000, "run_micros_per_wakeup": 300}]
)
def test_a_shape_out_of_bounds_is_refused(bad) -> None:
    with pytest.raises(ValidationError):
        ReplayShape(**bad)


# Any float, NaN and negatives included: a profile may be built without validation.
rates = st.none() | st.floats()
metrics = st.builds(
    SchedulingMetrics.model_construct,
    cpu_cores=rates, voluntary_switches_per_second=rates, wakeups_per_second=rates,
    timeslice_mean_micros=st.none() | st.integers(), threads=st.none() | st.integers(),
)


@given(protected=st.none() | metrics, others=st.none() | metrics)
def test_any_profile_gives_a_small_finite_replay(protected, others) -> None:
    shape = shape_from_profile(protected, others)
    assert 1 <= shape.threads <= MAX_THREADS and 0 <= shape.hogs <= MAX_HOGS
    assert MIN_WAKEUPS <= shape.wakeups_per_second <= MAX_WAKEUPS and 1 <= shape.run_micros_per_wakeup <= MAX_RUN_MICROS
    assert shape.wakeups_per_second * shape.run_micros_per_wakeup <= MAX_DUTY * 1e6
