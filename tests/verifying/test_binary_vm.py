"""An scx binary candidate through every stage in one boot: scx_bpfland with non-default
flags attaches from the host's cache, runs the suite and is judged against EEVDF."""

from __future__ import annotations

import pytest

from schedcp.api.v1alpha1.policy import CandidateVerdict, ObjectiveKind
from schedcp.provisioning.scx import crate_status
from schedcp.templates import builtin_specs
from schedcp.verifying.performance import PerformanceGoal
from schedcp.verifying.replay import ReplayShape
from schedcp.verifying.verifier import Candidate, verify_all

pytestmark = pytest.mark.vm

GOAL = PerformanceGoal(objective=ObjectiveKind.LATENCY, rounds=2,
                       replay=ReplayShape(threads=2, wakeups_per_second=500, run_micros_per_wakeup=200, hogs=2,
                                          duration_ms=1000))


def test_scx_bpfland_with_non_default_flags_passes_the_safety_stages_and_is_judged() -> None:
    if crate_status("scx_bpfland").binary is None:
        pytest.skip("scx_bpfland is not in the cache: `schedcp dev prepare --scx scx_bpfland`")
    spec = builtin_specs()["scx-bpfland"]
    tunables = {t.name: t.default for t in spec.tunables} | {"slice_us": 5000, "sticky_tasks": 1}
    source = spec.configured(tunables)
    assert source.binary and source.binary.arguments == ["--slice-us=5000", "--slice-min-us=0", "--sticky-tasks"]
    report = verify_all([Candidate("scx-bpfland", source.text(), tunables)], goal=GOAL)[0]
    stages = {s.name: s for s in report.stages}
    print("\n" + "\n".join(f"{s.name} {s.result}: {s.message}" for s in report.stages))
    assert report.safe, [(s.name, s.result, s.message, s.log[-2000:]) for s in report.stages]
    assert "ops bpfland_1.1.4_" in stages["kernelVerifier"].message
    assert report.performance and report.performance.verdict != CandidateVerdict.NOT_MEASURED
    assert len(report.performance.measure.candidate_rounds) == GOAL.rounds
