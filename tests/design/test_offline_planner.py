"""The offline planner: the expected template for each labelled workload, verified for real.

The distinct configurations it picks are verified in one micro-VM boot; each design
then runs through the planner's tools with those real reports.
"""

from __future__ import annotations

import pytest

from schedcp.api.v1alpha1.policy import CandidateVerdict
from schedcp.verifying.verifier import Candidate, verify_all
from schedcp_operator.design.claude import NoImprovement
from schedcp_operator.design.designer import design_offline
from schedcp_operator.design.offline import MAX_CANDIDATES, choose
from schedcp_operator.design.repository import Repository
from schedcp_operator.design.tools import (
    Finish,
    ProposeConfiguration,
    RunVerifier,
    ToolError,
    Workspace,
    finish,
    propose_configuration,
    run_verifier,
)
from tests.design.gate_stub import GOAL, better_for, slower_than_eevdf
from tests.design.test_repository import LABELLED, profile_of

# The rule table names the project's BPF C templates; the scx binaries are for Claude to choose.
RULED = [case for case in LABELLED if not Repository.from_builtins().get(case["expected"]).spec.source.binary]


@pytest.mark.unit
def test_offline_rules_pick_the_expected_template_for_every_labelled_workload() -> None:
    chosen = {case["goal"]: choose(profile_of(case)).template for case in RULED}
    assert chosen == {case["goal"]: case["expected"] for case in RULED}


def offline_configurations(repository: Repository) -> dict[tuple[str, tuple], tuple[str, dict[str, int]]]:
    """(source, tunables) -> (template, tunables) of every distinct configuration the rules pick."""
    configs = {}
    for case in RULED:
        choice = choose(profile_of(case))
        spec = repository.get(choice.template).spec
        tunables = {**{t.name: t.default for t in spec.tunables}, **choice.tunables}
        configs[(spec.source.code, tuple(sorted(tunables.items())))] = (choice.template, tunables)
    return configs


def test_offline_designs_pass_the_static_allow_list() -> None:
    configs = offline_configurations(Repository.from_builtins())
    candidates = [Candidate(template, source, tunables) for (source, _), (template, tunables) in configs.items()]
    failed = {c.label: r.stages[0].message for c, r in zip(candidates, verify_all(candidates, dynamic=False), strict=True)
              if r.stages[0].result != "Passed"}
    assert not failed


@pytest.mark.vm
def test_offline_designs_pass_the_verifier() -> None:
    repository = Repository.from_builtins()
    configs = offline_configurations(repository)
    candidates = [Candidate(template, source, tunables) for (source, _), (template, tunables) in configs.items()]
    reports = {key: report for key, report in zip(configs, verify_all(candidates), strict=True)}
    for (template, _), report in zip(configs.values(), reports.values(), strict=True):
        assert report.passed, (template, [(s.name, s.result, s.message, s.log[-3000:]) for s in report.stages])

    def verifier(source: str, tunables: dict[str, int], dynamic: bool):  # the boot above, looked up
        return reports[(source, tuple(sorted(tunables.items())))]

    for case in RULED:
        record = design_offline(Workspace(profile_of(case), repository, verifier=verifier))
        assert record.outcome.candidate.template == case["expected"]
        assert record.outcome.report.passed, record.outcome.report.stages
        assert record.provenance().calls == 0 and record.provenance().cost_usd == "0.000000"


# -- the performance gate (stub reports; the gate itself: tests/verifying) ----------------

LATENCY_CASE = next(case for case in LABELLED if case["expected"] == "latency-class")


@pytest.mark.unit
def test_when_nothing_beats_eevdf_the_planner_ends_with_no_improvement_and_the_table() -> None:
    ws = Workspace(profile_of(LATENCY_CASE), Repository.from_builtins(), verifier=slower_than_eevdf, goal=GOAL)
    with pytest.raises(NoImprovement) as ended:
        design_offline(ws)
    tried = ended.value.tried
    assert len(tried) == MAX_CANDIDATES and tried[0].template == "latency-class"
    assert len({t.template for t in tried}) == MAX_CANDIDATES
    assert {t.verdict for t in tried} == {CandidateVerdict.NOT_BETTER}
    assert tried[0].metric == "gate:wakers p99_us" and tried[0].baseline == 2900.0 and tried[0].candidate == 205_000.0
    assert "latency-class" in str(ended.value) and "EEVDF 2900.0, candidate 205000.0" in str(ended.value)


@pytest.mark.unit
def test_the_planner_goes_on_to_the_next_ranked_candidate_that_beats_eevdf() -> None:
    repository = Repository.from_builtins()
    profile = profile_of(LATENCY_CASE)
    runner_up = next(r.name for r in repository.search(profile, limit=5)
                     if r.name != "latency-class" and not repository.get(r.name).spec.source.binary)
    ws = Workspace(profile, repository, verifier=better_for(repository.get(runner_up).spec.source.code), goal=GOAL)
    record = design_offline(ws)
    assert record.outcome.candidate.template == runner_up and record.outcome.report.passed
    assert [t.verdict for t in ws.tried] == [CandidateVerdict.NOT_BETTER, CandidateVerdict.BETTER]


@pytest.mark.unit
def test_finish_refuses_a_safe_candidate_that_is_not_better_with_its_numbers() -> None:
    ws = Workspace(profile_of(LATENCY_CASE), Repository.from_builtins(), verifier=slower_than_eevdf, goal=GOAL)
    propose_configuration(ws, ProposeConfiguration(template="fifo"))
    run_verifier(ws, RunVerifier())
    with pytest.raises(ToolError, match=r"not better than the kernel's default.*EEVDF 2900.0 \(2400.0-3900.0\), "
                                        r"candidate 205000.0 \(200000.0-207000.0\).*verdict NotBetter"):
        finish(ws, Finish(rationale="fifo"))
