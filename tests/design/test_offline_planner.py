"""The offline planner: the expected template for each labelled workload, verified for real.

The distinct configurations it picks are verified in one micro-VM boot; each design
then runs through the planner's tools with those real reports.
"""

from __future__ import annotations

import pytest

from schedcp.verifying.verifier import Candidate, verify_all
from schedcp_operator.design.designer import design_offline
from schedcp_operator.design.offline import choose
from schedcp_operator.design.repository import Repository
from schedcp_operator.design.tools import Workspace
from tests.design.test_repository import LABELLED, profile_of


def test_offline_rules_pick_the_expected_template_for_every_labelled_workload() -> None:
    chosen = {case["goal"]: choose(profile_of(case)).template for case in LABELLED}
    assert chosen == {case["goal"]: case["expected"] for case in LABELLED}


@pytest.mark.vm
def test_offline_designs_pass_the_verifier() -> None:
    repository = Repository.from_builtins()
    configs = {}
    for case in LABELLED:
        choice = choose(profile_of(case))
        spec = repository.get(choice.template).spec
        tunables = {**{t.name: t.default for t in spec.tunables}, **choice.tunables}
        configs[(spec.source.code, tuple(sorted(tunables.items())))] = (choice.template, tunables)
    candidates = [Candidate(template, source, tunables) for (source, _), (template, tunables) in configs.items()]
    reports = {key: report for key, report in zip(configs, verify_all(candidates))}
    for (template, _), report in zip(configs.values(), reports.values()):
        assert report.passed, (template, [(s.name, s.result, s.message, s.log[-3000:]) for s in report.stages])

    def verifier(source: str, tunables: dict[str, int], dynamic: bool):  # the boot above, looked up
        return reports[(source, tuple(sorted(tunables.items())))]

    for case in LABELLED:
        record = design_offline(Workspace(profile_of(case), repository, verifier=verifier))
        assert record.outcome.candidate.template == case["expected"]
        assert record.outcome.report.passed, record.outcome.report.stages
        assert record.provenance().calls == 0 and record.provenance().cost_usd == "0.000000"
