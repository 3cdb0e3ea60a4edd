"""Verification reports as the performance gate writes them, without a boot: for tests of
what the design loop and the lifecycle do with a verdict, not of the verdict itself."""

from __future__ import annotations

from collections.abc import Callable

from schedcp.api.v1alpha1.policy import ObjectiveKind
from schedcp.api.v1alpha1.revision import StageName, StageResult, VerificationReport, VerificationStage
from schedcp.verifying.performance import Part, PerformanceGoal, judge, performance_stage
from schedcp.verifying.replay import ReplayShape

GOAL = PerformanceGoal(objective=ObjectiveKind.LATENCY, replay=ReplayShape(hogs=1))
EEVDF_P99 = [2400.0, 2900.0, 3900.0]


def gated_report(p99: list[float], digest: str = "a" * 64) -> VerificationReport:
    """A safe candidate whose replay p99 was `p99` in its rounds, next to EEVDF's."""
    def rounds(values: list[float]) -> dict:
        return {Part.WAKERS: [{"p99_us": v} for v in values], Part.HOGS: [{"hog_units_per_s": 100.0}] * len(values)}

    judgement = judge(GOAL, rounds(EEVDF_P99), rounds(p99))
    stages = [VerificationStage(name=name, result=StageResult.PASSED)
              for name in (StageName.STATIC, StageName.KERNEL_VERIFIER, StageName.DYNAMIC)]
    stages.append(performance_stage(judgement))
    return VerificationReport(passed=all(s.result == StageResult.PASSED for s in stages), object_sha256=digest,
                              ops_name="stub", stages=stages, performance=judgement)


def slower_than_eevdf(source: str, tunables: dict[str, int], dynamic: bool) -> VerificationReport:
    return gated_report([200_000.0, 205_000.0, 207_000.0])


def better_for(template_source: str) -> Callable[[str, dict[str, int], bool], VerificationReport]:
    """A verifier under which only `template_source` beats EEVDF."""
    def verifier(source: str, tunables: dict[str, int], dynamic: bool) -> VerificationReport:
        return gated_report([300.0, 310.0, 340.0]) if source == template_source else slower_than_eevdf(source, tunables, dynamic)

    return verifier
