"""From the agents' pod profiles to a Workload Profile: aggregation and traits.

Traits come from fixed thresholds on tier-1 measures (tier 2 refines them when present)
so that the same profile always yields the same traits, whoever plans. Per-pod rates
are compared per pod (a hundred idle pods do not add up to one busy one).
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import fmean

from schedcp.api.v1alpha1.base import SchedulingMetrics
from schedcp.api.v1alpha1.nodestate import PodProfile
from schedcp.api.v1alpha1.policy import ObjectiveKind
from schedcp_operator.design.profile import Trait, WorkloadProfile

WAKES_OFTEN_PER_SECOND = 50.0  # voluntary switches per pod: the pod sleeps and wakes a lot
SHORT_BURST_MICROS = 2_000  # mean timeslice of a wake-heavy pod
LONG_SLICE_MICROS = 10_000  # mean timeslice of a CPU-bound pod
CPU_BOUND_CORES = 0.5  # per pod
CONTENDED_DELAY_PER_SECOND = 100_000  # µs of run delay per second: a tenth of a CPU spent waiting
CONTENDED_PSI = 20.0
THROTTLED_PER_SECOND = 1.0

_SUMMED = ("cpu_cores", "run_delay_per_second_micros", "involuntary_switches_per_second",
           "voluntary_switches_per_second", "throttled_periods_per_second", "throttled_micros_per_second",
           "threads", "wakeups_per_second", "migrations_per_second")
_WORST = ("run_delay_p99_micros", "runq_latency_p99_micros", "cpu_pressure_some_avg10")
_MEAN = ("run_delay_p50_micros", "runq_latency_p50_micros", "timeslice_mean_micros")


def aggregate(metrics: list[SchedulingMetrics]) -> SchedulingMetrics | None:
    """Rates and sizes add up, tails take the worst pod, typical values the mean."""
    if not metrics:
        return None
    values: dict[str, float | int] = {}
    combiners: list[tuple[str, Callable[[list[float]], float]]] = [
        *((n, sum) for n in _SUMMED), *((n, max) for n in _WORST), *((n, fmean) for n in _MEAN)]
    for name, combine in combiners:
        present = [getattr(m, name) for m in metrics if getattr(m, name) is not None]
        if present:
            value = combine(present)
            values[name] = round(value) if name.endswith("_micros") or name == "threads" else value
    return SchedulingMetrics.model_validate({**values, "samples": min(m.samples for m in metrics)})


def _per_pod(total: float | int | None, pods: int) -> float:
    return (total or 0) / max(pods, 1)


def _wake_heavy(m: SchedulingMetrics | None, pods: int) -> bool:
    return m is not None and _per_pod(m.voluntary_switches_per_second, pods) >= WAKES_OFTEN_PER_SECOND and (
        m.timeslice_mean_micros or 0) <= SHORT_BURST_MICROS


def _cpu_bound(m: SchedulingMetrics | None, pods: int) -> bool:
    return m is not None and (_per_pod(m.cpu_cores, pods) >= CPU_BOUND_CORES or (m.timeslice_mean_micros or 0) >= LONG_SLICE_MICROS)


def derive_traits(objective: ObjectiveKind, protected: SchedulingMetrics | None, protected_pods: int,
                  others: SchedulingMetrics | None, other_pods: int) -> list[Trait]:
    traits = []
    if _wake_heavy(protected, protected_pods):
        traits.append(Trait.LATENCY_SENSITIVE)
    busy_neighbours = _cpu_bound(others, other_pods)
    if _cpu_bound(protected, protected_pods) or (busy_neighbours and not protected):
        traits.append(Trait.CPU_BOUND)
    if Trait.LATENCY_SENSITIVE in traits and busy_neighbours:
        traits.append(Trait.MIXED_LOAD)
    if Trait.LATENCY_SENSITIVE in traits and not busy_neighbours and objective != ObjectiveKind.LATENCY:
        traits.append(Trait.INTERACTIVE)
    if objective == ObjectiveKind.MAKESPAN and Trait.CPU_BOUND in traits:
        traits.append(Trait.LONG_TAIL_BATCH)
    every = [m for m in (protected, others) if m]
    if any((m.run_delay_per_second_micros or 0) >= CONTENDED_DELAY_PER_SECOND
           or (m.cpu_pressure_some_avg10 or 0) >= CONTENDED_PSI for m in every):
        traits.append(Trait.CONTENDED)
    if any((m.throttled_periods_per_second or 0) >= THROTTLED_PER_SECOND for m in every):
        traits.append(Trait.THROTTLED)
    return traits


def build_profile(objective: ObjectiveKind, goal: str, max_batch_loss_percent: int,
                  protected: list[PodProfile], others: list[PodProfile], nodes: int) -> WorkloadProfile:
    mine, theirs = aggregate([p.metrics for p in protected]), aggregate([p.metrics for p in others])
    return WorkloadProfile(
        objective=objective, goal=goal, max_batch_loss_percent=max_batch_loss_percent,
        traits=derive_traits(objective, mine, len(protected), theirs, len(others)),
        protected=mine, others=theirs, protected_pods=len(protected), other_pods=len(others), nodes=nodes,
    )
