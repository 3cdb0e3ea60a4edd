"""The hostile corpus (tests/verifying/hostile): each scheduler stopped at its stage, with its cause.

Every case names the stage that must stop it (manifest.yaml). The static ones are refused
without booting anything; the others, with the benign control, share one micro-VM boot with
the built-in schedulers (conftest.one_boot).
"""

from __future__ import annotations

import re

import pytest

from schedcp.verifying import verifier
from schedcp.verifying.verifier import verify_all
from tests.verifying.corpus import CASES, HOSTILE, LATER, ORDER, STATIC, candidate


def where_it_stopped(case: dict, report) -> str:
    """What is wrong with the report for this case ("" when it stopped where it should)."""
    failed = next((s for s in report.stages if s.result == "Failed"), None)
    if case["stage"] == "passes":
        return "" if report.passed else f"control failed at {failed.name if failed else '?'}"
    if failed is None or report.passed:
        return "passed every stage"
    if ORDER.index(failed.name) > ORDER.index(case["stage"]):
        return f"stopped only at {failed.name}"
    return "" if re.search(case["says"], failed.message, re.I) else f"message does not say /{case['says']}/"


def assert_all_stopped(cases: list[dict], reports: list) -> None:
    table = []
    for case, report in zip(cases, reports, strict=True):
        failed = next((s for s in report.stages if s.result == "Failed"), report.stages[-1])
        table.append((case["file"], where_it_stopped(case, report), failed.name, failed.message[:400], failed.log[-1500:]))
    print("\n".join(f"{name:20} {problem or 'ok':30} {stage:15} {message}" for name, problem, stage, message, _ in table))
    assert not [row for row in table if row[1]], [row for row in table if row[1]]


def test_the_corpus_is_big_enough_and_every_file_is_in_the_manifest() -> None:
    assert len([c for c in CASES if c["stage"] != "passes"]) >= 15
    assert {c["file"] for c in CASES} == {p.name.removesuffix(".bpf.c") for p in HOSTILE.glob("*.bpf.c")}
    assert {c["stage"] for c in CASES} <= {*ORDER, "passes"}


def test_static_cases_are_refused_without_booting_with_their_cause(monkeypatch) -> None:
    monkeypatch.setattr(verifier, "boot_and_run", lambda *_a, **_k: pytest.fail("a static case booted a VM"))
    reports = verify_all([candidate(c) for c in STATIC])
    assert_all_stopped(STATIC, reports)
    assert all([s.result for s in report.stages[1:]] == ["Skipped", "Skipped"] for report in reports)


def test_the_later_cases_and_the_control_pass_the_static_stage() -> None:
    """Otherwise they would not test the stage they name."""
    reports = verify_all([candidate(c) for c in LATER], dynamic=False)
    failed = {c["file"]: r.stages[0].message for c, r in zip(LATER, reports, strict=True) if r.stages[0].result != "Passed"}
    assert not failed


@pytest.mark.vm
def test_kernel_and_dynamic_cases_fail_at_their_stage_in_one_boot_and_the_control_passes(one_boot) -> None:
    """The boot is shared with the built-ins (conftest.one_boot)."""
    assert_all_stopped(LATER, [one_boot[case["file"]] for case in LATER])
