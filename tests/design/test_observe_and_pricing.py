"""Traits from measurements, and the price of a call: the deterministic parts of design."""

from __future__ import annotations

from decimal import Decimal

import pytest

from schedcp.api.v1alpha1.base import SchedulingMetrics
from schedcp.api.v1alpha1.nodestate import PodProfile
from schedcp.api.v1alpha1.policy import ObjectiveKind
from schedcp_operator.design.observe import aggregate, build_profile
from schedcp_operator.design.pricing import UnknownModel, cost_usd, price_of
from schedcp_operator.design.profile import Trait

pytestmark = pytest.mark.unit

# Shapes measured by the node agent's tier-2 VM test: a pod that sleeps 1 ms in a loop,
# and one that spins.
WAKER = SchedulingMetrics(cpu_cores=0.17, voluntary_switches_per_second=745, timeslice_mean_micros=229,
                          run_delay_per_second_micros=16_891, samples=11)
SPINNER = SchedulingMetrics(cpu_cores=0.99, voluntary_switches_per_second=24, timeslice_mean_micros=33_285,
                            run_delay_per_second_micros=2_295, samples=11)


def pods(metrics: SchedulingMetrics, count: int, prefix: str) -> list[PodProfile]:
    return [PodProfile(namespace="ns", name=f"{prefix}-{i}", metrics=metrics) for i in range(count)]


def test_latency_pods_next_to_batch_are_a_mixed_load() -> None:
    profile = build_profile(ObjectiveKind.LATENCY, "", 10, pods(WAKER, 3, "web"), pods(SPINNER, 2, "batch"), 1)
    assert {Trait.LATENCY_SENSITIVE, Trait.MIXED_LOAD} <= set(profile.traits)
    assert Trait.INTERACTIVE not in profile.traits
    assert profile.protected.cpu_cores == pytest.approx(0.51)
    assert (profile.protected_pods, profile.other_pods) == (3, 2)


def test_spinning_pods_for_makespan_are_a_long_tail_batch() -> None:
    profile = build_profile(ObjectiveKind.MAKESPAN, "", 10, pods(SPINNER, 4, "job"), [], 1)
    assert {Trait.CPU_BOUND, Trait.LONG_TAIL_BATCH} <= set(profile.traits)


def test_wake_heavy_pods_alone_without_a_latency_goal_are_interactive() -> None:
    profile = build_profile(ObjectiveKind.BALANCED, "", 10, pods(WAKER, 2, "ui"), [], 1)
    assert Trait.INTERACTIVE in profile.traits and Trait.MIXED_LOAD not in profile.traits


def test_contention_comes_from_run_delay_or_pressure() -> None:
    waiting = SPINNER.model_copy(update={"run_delay_per_second_micros": 400_000})
    assert Trait.CONTENDED in build_profile(ObjectiveKind.THROUGHPUT, "", 10, pods(waiting, 1, "a"), [], 1).traits
    assert Trait.CONTENDED not in build_profile(ObjectiveKind.THROUGHPUT, "", 10, pods(SPINNER, 1, "a"), [], 1).traits


def test_aggregate_sums_rates_and_keeps_the_worst_tail() -> None:
    a = SchedulingMetrics(cpu_cores=0.5, run_delay_p99_micros=100, timeslice_mean_micros=1000, samples=5)
    b = SchedulingMetrics(cpu_cores=0.25, run_delay_p99_micros=900, timeslice_mean_micros=3000, samples=7)
    total = aggregate([a, b])
    assert (total.cpu_cores, total.run_delay_p99_micros, total.timeslice_mean_micros, total.samples) == (0.75, 900, 2000, 5)
    assert aggregate([]) is None


def test_prices_per_model_family_and_cache_discounts() -> None:
    assert price_of("claude-sonnet-4-5-20250929") == price_of("claude-sonnet-4-5")
    # 1M input + 1M output on Sonnet 5.5: 2 + 10 USD; a cached read costs a tenth of input.
    assert cost_usd("claude-sonnet-5-5", 1_000_000, 1_000_000) == Decimal(12)
    assert cost_usd("claude-sonnet-5-5", 0, 0, cache_read=1_000_000) == Decimal("0.2")
    assert cost_usd("claude-sonnet-5-5", 0, 0, cache_write=1_000_000) == Decimal("2.5")
    with pytest.raises(UnknownModel):
        price_of("gpt-4")
