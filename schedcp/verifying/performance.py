"""The performance gate: a safe candidate becomes a revision only if it beats EEVDF.

The dynamic stage proves a scheduler safe, not useful: it passed a candidate whose p50 was
twice EEVDF's. With a `PerformanceGoal`, the same boot also runs the policy's profile,
replayed, round after round under EEVDF and under each candidate, and judges the
objective's measure:

| objective  | measure (the replay's JSON)                         | guard                         |
| ---------- | --------------------------------------------------- | ----------------------------- |
| latency    | the protected threads' p99 wakeup latency (lower)   | the hogs may lose at most     |
| balanced   | the protected threads' mean run delay (lower)       | `max_batch_loss_percent`      |
| throughput | the protected threads' work per second (higher)     |                               |
| makespan   | the long-tail batch's makespan (lower)              |                               |

Better means better by more than the measured spread: the candidate's worst measured round
beats EEVDF's best one, so the two ranges (min-max over the rounds) do not overlap. A gap
smaller than the rounds' own scatter is no evidence. The batch guard is a cost limit, not a
claim, so it compares medians. The first round after boot is an outlier, so each
scheduler's first round is a warm-up and is not judged.

The protected threads and the hogs run as two processes in two cgroups, as the pods do on
a node, so a scheduler that classifies cgroups (latency-class) gets the protected cgroup in
its class map, as the node agent would write it. There is one hog at least: a profile sees
only the policy's pods, not the rest of the node, and with nothing else to run there is
nothing to wait behind, so no scheduler could differ.

Throughput is the work the policy's own pods get done: their finished bursts, in hog units.
(It was the other hogs' rate once, which rewarded a scheduler for starving the policy's pods:
a throughput policy selects the CPU-bound pods it wants to go faster.)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from statistics import median
from typing import Annotated

from pydantic import BaseModel, Field

from schedcp.api.v1alpha1.policy import CandidateVerdict, ObjectiveKind
from schedcp.api.v1alpha1.revision import (
    Better,
    PerformanceJudgement,
    StageName,
    StageResult,
    VerificationStage,
    WorkloadComparison,
)
from schedcp.verifying.replay import MIN_WAKEUPS, ReplayShape

WARM_UP_ROUNDS = 1
# The batch of the dynamic suite's long-tail workload: twelve short jobs and two long ones.
LONGTAIL = "bin/longtail 12 10 2 120"


class PerformanceGoal(BaseModel):
    """What the gate judges a candidate on; part of a remembered report's key."""

    objective: ObjectiveKind
    replay: ReplayShape = ReplayShape()
    max_batch_loss_percent: Annotated[int, Field(ge=0, le=100)] = 10
    rounds: Annotated[int, Field(ge=2, le=7, description="measured rounds per scheduler, after the warm-up")] = 3


class Part(StrEnum):
    """The processes of one gate round; the wakers and the hogs have a cgroup each (guest.sh)."""

    WAKERS = "wakers"  # cgroup latency: the protected pods
    HOGS = "hogs"  # cgroup batch: the other pods
    LONGTAIL = "longtail"


@dataclass(frozen=True)
class GateMeasure:
    part: Part
    metric: str
    better: Better


OBJECTIVE_MEASURE = {
    ObjectiveKind.LATENCY: GateMeasure(Part.WAKERS, "p99_us", Better.LOWER),
    ObjectiveKind.BALANCED: GateMeasure(Part.WAKERS, "mean_run_delay_us", Better.LOWER),
    ObjectiveKind.THROUGHPUT: GateMeasure(Part.WAKERS, "work_units_per_s", Better.HIGHER),
    ObjectiveKind.MAKESPAN: GateMeasure(Part.LONGTAIL, "makespan_ms", Better.LOWER),
}
BATCH_GUARD = GateMeasure(Part.HOGS, "hog_units_per_s", Better.HIGHER)
GUARDED = (ObjectiveKind.LATENCY, ObjectiveKind.BALANCED)


def gate_commands(goal: PerformanceGoal) -> dict[str, str]:
    """The guest command of each part of one round."""
    if goal.objective == ObjectiveKind.MAKESPAN:
        return {Part.LONGTAIL: LONGTAIL}
    shape = goal.replay
    # `replay` needs one waker; the slowest one is noise next to the hogs.
    hogs = ReplayShape(threads=1, wakeups_per_second=MIN_WAKEUPS, run_micros_per_wakeup=1, hogs=max(shape.hogs, 1),
                       duration_ms=shape.duration_ms)
    return {Part.WAKERS: shape.model_copy(update={"hogs": 0}).command(), Part.HOGS: hogs.command()}


def gate_seconds(goal: PerformanceGoal) -> float:
    """Guest time of one scheduler's rounds, with a second per round for start-up and calibration."""
    per_round = 3.0 if goal.objective == ObjectiveKind.MAKESPAN else goal.replay.duration_ms / 1000 + 1
    return (goal.rounds + WARM_UP_ROUNDS) * per_round


# part -> the measured rounds' results (a result is None where a round gave none)
Rounds = dict[str, list[dict[str, float] | None]]


def beats(candidate: list[float], baseline: list[float], better: Better) -> bool:
    """The candidate's worst round beats the baseline's best round (the ranges do not overlap)."""
    if better == Better.LOWER:
        return max(candidate) < min(baseline)
    return min(candidate) > max(baseline)


def batch_loss_percent(candidate: list[float], baseline: list[float]) -> float:
    """How much less work the others got done, in percent of EEVDF's median (negative: more)."""
    base = median(baseline)
    return 100.0 * (base - median(candidate)) / base if base else 0.0


def _comparison(measure: GateMeasure, baseline: Rounds, candidate: Rounds) -> WorkloadComparison:
    def values(rounds: Rounds) -> list[float]:
        results = rounds.get(measure.part, [])
        found = [r.get(measure.metric) if r else None for r in results]
        return [float(v) for v in found if v is not None] if found and None not in found else []

    base, cand = values(baseline), values(candidate)
    return WorkloadComparison(workload=f"gate:{measure.part}", metric=measure.metric, better=measure.better,
                              baseline=median(base) if base else None, candidate=median(cand) if cand else None,
                              baseline_rounds=base, candidate_rounds=cand)


def judge(goal: PerformanceGoal, baseline: Rounds, candidate: Rounds) -> PerformanceJudgement:
    """The verdict on one candidate's measured rounds against EEVDF's (module docstring)."""
    measure = _comparison(OBJECTIVE_MEASURE[ObjectiveKind(goal.objective)], baseline, candidate)
    batch = _comparison(BATCH_GUARD, baseline, candidate) if goal.objective in GUARDED else None
    replayed = " & ".join(gate_commands(goal).values())
    judgement = PerformanceJudgement(objective=goal.objective, replayed=replayed, measure=measure, batch=batch,
                                     max_batch_loss_percent=goal.max_batch_loss_percent, verdict=CandidateVerdict.NOT_MEASURED)
    comparisons = [c for c in (measure, batch) if c is not None]
    if any(not c.baseline_rounds or not c.candidate_rounds for c in comparisons):
        return judgement
    if not beats(measure.candidate_rounds, measure.baseline_rounds, Better(measure.better)):
        judgement.verdict = CandidateVerdict.NOT_BETTER
    elif batch and batch_loss_percent(batch.candidate_rounds, batch.baseline_rounds) > goal.max_batch_loss_percent:
        judgement.verdict = CandidateVerdict.BATCH_LOSS
    else:
        judgement.verdict = CandidateVerdict.BETTER
    return judgement


def _spread(values: list[float]) -> str:
    return f"{median(values):.1f} ({min(values):.1f}-{max(values):.1f})" if values else "none"


def summary(judgement: PerformanceJudgement) -> str:
    """The numbers behind the verdict, for people: medians, ranges, ratio, batch loss."""
    m = judgement.measure
    ratio = f", ratio {m.candidate / m.baseline:.2f}" if m.baseline and m.candidate is not None else ""
    text = (f"{judgement.objective}: {m.workload} {m.metric} ({m.better} is better) over "
            f"{max(len(m.baseline_rounds), len(m.candidate_rounds))} rounds: EEVDF {_spread(m.baseline_rounds)}, "
            f"candidate {_spread(m.candidate_rounds)}{ratio}")
    b = judgement.batch
    if b and b.baseline_rounds and b.candidate_rounds:
        text += (f"; others' {b.metric} EEVDF {_spread(b.baseline_rounds)}, candidate {_spread(b.candidate_rounds)}, "
                 f"loss {batch_loss_percent(b.candidate_rounds, b.baseline_rounds):.1f}% "
                 f"(at most {judgement.max_batch_loss_percent}%)")
    return f"{text}; verdict {judgement.verdict}"


def performance_stage(judgement: PerformanceJudgement) -> VerificationStage:
    passed = judgement.verdict == CandidateVerdict.BETTER
    return VerificationStage(name=StageName.PERFORMANCE, result=StageResult.PASSED if passed else StageResult.FAILED,
                             message=summary(judgement)[:4096])
