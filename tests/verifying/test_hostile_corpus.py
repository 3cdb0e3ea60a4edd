"""The hostile corpus (tests/verifying/hostile): each scheduler stopped at its stage, with its cause.

Every case names the stage that must stop it (manifest.yaml). The static ones are refused
without booting anything; the others, with the benign control, share one micro-VM boot.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from schedcp.verifying import verifier
from schedcp.verifying.verifier import Candidate, verify_all

HOSTILE = Path(__file__).with_name("hostile")
CASES = yaml.safe_load((HOSTILE / "manifest.yaml").read_text())
ORDER = ("static", "kernelVerifier", "dynamic")
STATIC = [c for c in CASES if c["stage"] == "static"]
LATER = [c for c in CASES if c["stage"] != "static"]


def candidate(case: dict) -> Candidate:
    return Candidate(case["file"], (HOSTILE / f"{case['file']}.bpf.c").read_text())


def stopped_where_it_should(case: dict, report) -> None:
    failed = next((s for s in report.stages if s.result == "Failed"), None)
    assert failed is not None and not report.passed, (case["file"], [(s.name, s.result, s.message) for s in report.stages])
    assert ORDER.index(failed.name) <= ORDER.index(case["stage"]), (case["file"], failed.name, failed.message)
    assert re.search(case["says"], failed.message, re.I), (case["file"], failed.name, failed.message, failed.log[-3000:])


def test_the_corpus_is_big_enough_and_every_file_is_in_the_manifest() -> None:
    assert len([c for c in CASES if c["stage"] != "passes"]) >= 15
    assert {c["file"] for c in CASES} == {p.name.removesuffix(".bpf.c") for p in HOSTILE.glob("*.bpf.c")}
    assert {c["stage"] for c in CASES} <= {*ORDER, "passes"}


def test_static_cases_are_refused_without_booting_with_their_cause(monkeypatch) -> None:
    monkeypatch.setattr(verifier, "boot_and_run", lambda *_a, **_k: pytest.fail("a static case booted a VM"))
    for case, report in zip(STATIC, verify_all([candidate(c) for c in STATIC]), strict=True):
        stopped_where_it_should(case, report)
        assert [s.result for s in report.stages[1:]] == ["Skipped", "Skipped"]


def test_the_later_cases_and_the_control_pass_the_static_stage() -> None:
    """Otherwise they would not test the stage they name."""
    reports = verify_all([candidate(c) for c in LATER], dynamic=False)
    failed = {c["file"]: r.stages[0].message for c, r in zip(LATER, reports, strict=True) if r.stages[0].result != "Passed"}
    assert not failed


@pytest.mark.vm
def test_kernel_and_dynamic_cases_fail_at_their_stage_in_one_boot_and_the_control_passes() -> None:
    reports = verify_all([candidate(c) for c in LATER])
    for case, report in zip(LATER, reports, strict=True):
        if case["stage"] == "passes":
            assert report.passed, [(s.name, s.result, s.message, s.log[-2000:]) for s in report.stages]
        else:
            stopped_where_it_should(case, report)
