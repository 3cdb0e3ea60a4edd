"""The performance gate for real: EEVDF and two safe candidates on a latency goal, one boot.

fifo (a global queue with 100 ms slices, the longest it allows) makes a waking thread
wait behind the hogs' whole slices; latency-class, with the wakers' cgroup in its class
map as the node agent would write it, lets them run first.
"""

from __future__ import annotations

import pytest

from schedcp.api.v1alpha1.policy import CandidateVerdict, ObjectiveKind
from schedcp.templates import builtin_templates
from schedcp.verifying.performance import PerformanceGoal
from schedcp.verifying.replay import ReplayShape
from schedcp.verifying.verifier import Candidate, verify_all

pytestmark = pytest.mark.vm

GOAL = PerformanceGoal(objective=ObjectiveKind.LATENCY,
                       replay=ReplayShape(threads=2, wakeups_per_second=500, run_micros_per_wakeup=200, hogs=2,
                                          duration_ms=1000))


@pytest.fixture(scope="module")
def judged():
    templates = builtin_templates()
    candidates = [Candidate("fifo", templates["fifo"].source(), {"slice_us": 100_000}),
                  Candidate("latency-class", templates["latency-class"].source(), templates["latency-class"].defaults())]
    reports = dict(zip([c.label for c in candidates], verify_all(candidates, goal=GOAL), strict=True))
    for label, report in reports.items():
        print(f"\n{label}: " + "\n  ".join(f"{s.name} {s.result}: {s.message}" for s in report.stages))
    return reports


def stage(report, name):
    return next(s for s in report.stages if s.name == name)


def test_a_safe_candidate_slower_than_eevdf_is_refused_with_the_numbers(judged) -> None:
    report = judged["fifo"]
    assert report.safe and not report.passed and report.not_better
    assert report.performance.verdict == CandidateVerdict.NOT_BETTER
    measure = report.performance.measure
    assert len(measure.baseline_rounds) == len(measure.candidate_rounds) == GOAL.rounds
    assert min(measure.candidate_rounds) > max(measure.baseline_rounds)  # slower in every round
    performance = stage(report, "performance")
    assert performance.result == "Failed"
    assert "EEVDF" in performance.message and f"{measure.candidate:.1f}" in performance.message
    assert "verdict NotBetter" in performance.message
    assert measure in report.workloads


def test_a_candidate_that_beats_eevdf_on_the_replay_passes_the_gate(judged) -> None:
    report = judged["latency-class"]
    assert report.passed, [(s.name, s.result, s.message) for s in report.stages]
    assert report.performance.verdict == CandidateVerdict.BETTER
    assert stage(report, "performance").result == "Passed"
