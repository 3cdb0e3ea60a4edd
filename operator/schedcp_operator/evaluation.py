"""Did a revision make the protected pods worse? The canary's verdict, as a pure function.

The measure follows the objective: for latency, the protected pods' wait for a CPU (the
tier-2 run-queue latency p99 when the agent has it: a per-wakeup histogram; else the
median of tier 1's per-second mean run delay, because the "p99" of a window of one-second
means is its single worst second, which one stall or one noisy sample decides); their
CPU time for the others. The other selected pods' CPU time may fall by at most the
batch loss the user accepted. Other namespaces' pods on the canary nodes are judged on
their own, each namespace by its CPU time and the loss its governance allows: the user of
the policy does not set the limit that protects someone else. Differences below a noise floor never count: tier-1 run
delay comes in scheduler ticks, and a tenth of a core is within one sample's jitter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from schedcp.api.v1alpha1.base import SchedulingMetrics
from schedcp.api.v1alpha1.policy import ObjectiveKind
from schedcp.api.v1alpha1.template import Outcome

LATENCY_NOISE_MICROS = 200
CPU_NOISE_CORES = 0.1


class Judgement(NamedTuple):
    regressed: bool
    summary: str


def _latency_tail(m: SchedulingMetrics) -> tuple[str, float | None]:
    if m.runq_latency_p99_micros is not None:
        return "run-queue latency p99 (µs)", m.runq_latency_p99_micros
    return "run delay p50 (µs)", m.run_delay_p50_micros


def _worse(before: float, after: float, percent: int, noise: float, lower_is_better: bool) -> bool:
    change = after - before if lower_is_better else before - after
    return change > noise and change > before * percent / 100


def judge(objective: ObjectiveKind, *, before: SchedulingMetrics | None, after: SchedulingMetrics | None,
          others_before: SchedulingMetrics | None, others_after: SchedulingMetrics | None,
          max_regression_percent: int, max_batch_loss_percent: int) -> Judgement:
    if before is None or after is None:
        return Judgement(False, "no protected pod was measured both before and after")
    findings, regressed = [], False
    if objective == ObjectiveKind.LATENCY:
        name, old = _latency_tail(before)
        _, new = _latency_tail(after)
        if old is not None and new is not None:
            findings.append(f"{name} {old:.0f} -> {new:.0f}")
            regressed |= _worse(old, new, max_regression_percent, LATENCY_NOISE_MICROS, lower_is_better=True)
    elif before.cpu_cores is not None and after.cpu_cores is not None:
        findings.append(f"protected CPU cores {before.cpu_cores:.2f} -> {after.cpu_cores:.2f}")
        regressed |= _worse(before.cpu_cores, after.cpu_cores, max_regression_percent, CPU_NOISE_CORES, False)
    if others_before and others_after and others_before.cpu_cores is not None and others_after.cpu_cores is not None:
        findings.append(f"other pods' CPU cores {others_before.cpu_cores:.2f} -> {others_after.cpu_cores:.2f}")
        regressed |= _worse(others_before.cpu_cores, others_after.cpu_cores, max_batch_loss_percent, CPU_NOISE_CORES,
                            False)
    verdict = "regressed beyond the policy's limits" if regressed else "within the policy's limits"
    return Judgement(regressed, f"{verdict}: {'; '.join(findings) or 'no comparable measure'}")


def settled(objective: ObjectiveKind, *, before: SchedulingMetrics | None, after: SchedulingMetrics | None,
            max_regression_percent: int) -> tuple[Outcome | None, str]:
    """A revision that has run for the settling time, on the objective's measure against the
    canary's before-metrics: Regressed or Improved beyond the noise floor and the policy's
    percent (the same margin both ways), else Neutral; None when nothing was measured."""
    if before is None or after is None:
        return None, "no protected pod was measured both before and after"
    if objective == ObjectiveKind.LATENCY:
        name, old = _latency_tail(before)
        _, new = _latency_tail(after)
        noise, lower_is_better = float(LATENCY_NOISE_MICROS), True
    else:
        name, old, new, noise, lower_is_better = "protected CPU cores", before.cpu_cores, after.cpu_cores, CPU_NOISE_CORES, False
    if old is None or new is None:
        return None, f"{name} was not measured both before and after"
    finding = f"{name} {old:.2f} -> {new:.2f} (margin {max_regression_percent}%)"
    if _worse(old, new, max_regression_percent, noise, lower_is_better):
        return Outcome.REGRESSED, finding
    gain = old - new if lower_is_better else new - old
    if gain > noise and gain > old * max_regression_percent / 100:
        return Outcome.IMPROVED, finding
    return Outcome.NEUTRAL, finding


def judge_neighbours(before: Mapping[str, SchedulingMetrics], after: Mapping[str, SchedulingMetrics],
                     max_loss_percent: Mapping[str, int]) -> Judgement:
    """Which namespaces' pods lost more CPU time on the canary nodes than their limit."""
    findings, hurt = [], []
    for namespace, old in sorted(before.items()):
        new = after.get(namespace)
        if old.cpu_cores is None or new is None or new.cpu_cores is None:
            continue
        findings.append(f"namespace {namespace}'s pods CPU cores {old.cpu_cores:.2f} -> {new.cpu_cores:.2f} "
                        f"(at most {max_loss_percent[namespace]}% loss)")
        if _worse(old.cpu_cores, new.cpu_cores, max_loss_percent[namespace], CPU_NOISE_CORES, False):
            hurt.append(namespace)
    if hurt:
        return Judgement(True, f"pods of namespaces {', '.join(hurt)} lost more than allowed: {'; '.join(findings)}")
    return Judgement(False, "; ".join(findings) or "no other namespace's pods on the canary nodes")
