"""The performance gate's rule, on numbers: better only beyond the rounds' spread."""

from __future__ import annotations

from pathlib import Path

import pytest

from schedcp.api.v1alpha1.policy import CandidateVerdict, ObjectiveKind
from schedcp.api.v1alpha1.revision import Better
from schedcp.api.v1alpha1.template import BinarySource
from schedcp.verifying import cache
from schedcp.verifying.execution import LoadableCandidate, gate_rounds
from schedcp.verifying.performance import (
    Part,
    PerformanceGoal,
    beats,
    gate_commands,
    judge,
    performance_stage,
)
from schedcp.verifying.replay import ReplayShape

pytestmark = pytest.mark.unit

LATENCY = PerformanceGoal(objective=ObjectiveKind.LATENCY, replay=ReplayShape(hogs=2), max_batch_loss_percent=10)


def rounds(p99: list[float], hogs: list[float]) -> dict:
    return {Part.WAKERS: [{"p99_us": v} for v in p99], Part.HOGS: [{"hog_units_per_s": v} for v in hogs]}


def test_better_means_the_worst_round_beats_the_best_baseline_round() -> None:
    assert beats([100, 120], [130, 400], Better.LOWER)
    assert not beats([100, 140], [130, 400], Better.LOWER)  # overlapping ranges: within the spread
    assert beats([50, 60], [40, 45], Better.HIGHER)
    assert not beats([44, 60], [40, 45], Better.HIGHER)


def test_a_slower_candidate_is_refused_with_medians_ranges_and_ratio() -> None:
    judgement = judge(LATENCY, rounds([2000, 3000, 2500], [100, 100, 100]), rounds([9000, 9500, 9900], [100, 100, 100]))
    assert judgement.verdict == CandidateVerdict.NOT_BETTER
    assert judgement.measure.baseline == 2500 and judgement.measure.candidate == 9500
    assert judgement.replayed == "bin/replay 2000 2 500 200 0 & bin/replay 2000 1 25 1 2"
    stage = performance_stage(judgement)
    assert stage.name == "performance" and stage.result == "Failed"
    assert "EEVDF 2500.0 (2000.0-3000.0), candidate 9500.0 (9000.0-9900.0), ratio 3.80" in stage.message
    assert stage.message.endswith("verdict NotBetter")


def test_a_gain_inside_the_spread_is_not_better() -> None:
    judgement = judge(LATENCY, rounds([1000, 3000, 2000], [100] * 3), rounds([1500, 1600, 1700], [100] * 3))
    assert judgement.verdict == CandidateVerdict.NOT_BETTER


def test_better_latency_that_costs_the_hogs_too_much_is_a_batch_loss() -> None:
    judgement = judge(LATENCY, rounds([3000] * 3, [100, 100, 100]), rounds([300] * 3, [85, 88, 89]))
    assert judgement.verdict == CandidateVerdict.BATCH_LOSS
    assert "loss 12.0% (at most 10%)" in performance_stage(judgement).message
    fine = judge(LATENCY, rounds([3000] * 3, [100, 100, 100]), rounds([300] * 3, [91, 95, 99]))
    assert fine.verdict == CandidateVerdict.BETTER and performance_stage(fine).result == "Passed"


def test_a_round_without_a_number_is_not_measured() -> None:
    candidate = rounds([300] * 3, [100] * 3)
    candidate[Part.WAKERS][1] = None
    assert judge(LATENCY, rounds([3000] * 3, [100] * 3), candidate).verdict == CandidateVerdict.NOT_MEASURED


def test_each_objective_runs_and_judges_its_own_measure() -> None:
    assert set(gate_commands(PerformanceGoal(objective=ObjectiveKind.MAKESPAN))) == {Part.LONGTAIL}
    throughput = PerformanceGoal(objective=ObjectiveKind.THROUGHPUT, replay=ReplayShape(hogs=0))
    assert gate_commands(throughput)[Part.HOGS].endswith(" 1")  # one hog at least: something to compete with
    alone = PerformanceGoal(objective=ObjectiveKind.LATENCY, replay=ReplayShape(hogs=0))
    assert gate_commands(alone)[Part.HOGS].endswith(" 1")  # and something to wait behind
    # Throughput is the policy's own pods' work: the others' hogs getting more is no gain.
    baseline = {Part.WAKERS: [{"work_units_per_s": v} for v in (100, 110, 105)],
                Part.HOGS: [{"hog_units_per_s": v} for v in (100, 110, 105)]}
    starving = {Part.WAKERS: [{"work_units_per_s": v} for v in (60, 65, 62)],
                Part.HOGS: [{"hog_units_per_s": v} for v in (130, 140, 135)]}
    assert judge(throughput, baseline, starving).verdict == CandidateVerdict.NOT_BETTER
    faster = {Part.WAKERS: [{"work_units_per_s": v} for v in (130, 140, 135)], Part.HOGS: baseline[Part.HOGS]}
    judgement = judge(throughput, baseline, faster)
    assert judgement.verdict == CandidateVerdict.BETTER and judgement.batch is None


def test_warm_up_rounds_and_rounds_under_another_scheduler_are_not_judged() -> None:
    def report(round: int, ops: str, p99: float) -> dict:
        return {"event": "gate", "label": "c0", "round": round, "part": "wakers", "rc": 0, "ops": ops,
                "state": "enabled", "result": {"p99_us": p99}}

    reports = [report(1, "mine", 1.0), report(2, "mine", 2.0), report(3, "other", 3.0)]
    assert gate_rounds(reports, "c0", LoadableCandidate(Path("c0.bpf.o"), "mine")) == {"wakers": [{"p99_us": 2.0}, None]}


def test_a_binary_s_rounds_count_under_its_versioned_ops_name_only() -> None:
    binary = BinarySource(crate="scx_bpfland", version="1.1.4", sha256="a" * 64, ops_prefix="bpfland")
    candidate = LoadableCandidate(Path("/cache/scx_bpfland"), "bpfland", binary)
    reports = [{"event": "gate", "label": "c0", "round": r, "part": "wakers", "rc": 0, "ops": ops, "state": "enabled",
                "result": {"p99_us": 1.0}} for r, ops in ((2, "bpfland_1.1.4_x86_64_unknown_linux_gnu"), (3, "bpflandx"))]
    assert gate_rounds(reports, "c0", candidate) == {"wakers": [{"p99_us": 1.0}, None]}


def test_the_goal_is_part_of_a_remembered_report_key() -> None:
    keys = {cache.report_key("src", {}, True, "7.3", goal) for goal in
            (None, LATENCY, LATENCY.model_copy(update={"max_batch_loss_percent": 20}))}
    assert len(keys) == 3
