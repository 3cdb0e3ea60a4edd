"""The kernel-verifier and dynamic stages, for real, in one micro-VM boot with a sched_ext kernel."""

from __future__ import annotations

import re
import time

import pytest

from schedcp.templates import builtin_templates
from schedcp.verifying.verifier import Candidate, verify_all
from tests.verifying.conftest import BAD

pytestmark = pytest.mark.vm


@pytest.fixture(scope="module")
def verified():
    """Every built-in plus the two schedulers that only a kernel can refuse, in one boot."""
    templates = builtin_templates()
    candidates = [Candidate(name, t.source(), t.defaults()) for name, t in templates.items()]
    candidates += [Candidate(n, (BAD / f"{n}.bpf.c").read_text()) for n in ("bad_memory", "never_dispatch")]
    started = time.monotonic()
    reports = verify_all(candidates)
    print(f"\nverified {len(candidates)} candidates in {time.monotonic() - started:.1f}s")
    return {c.label: r for c, r in zip(candidates, reports, strict=True)}


def stage(report, name):
    return next(s for s in report.stages if s.name == name)


@pytest.mark.parametrize("name", sorted(builtin_templates()))
def test_builtin_passes_all_three_stages_and_really_ran(verified, name) -> None:
    report = verified[name]
    assert report.passed, [(s.name, s.result, s.message) for s in report.stages]
    assert f"ran under {report.ops_name}" in stage(report, "dynamic").message
    measured = [w for w in report.workloads if w.baseline is not None and w.candidate is not None]
    assert len(measured) == len(report.workloads) > 0


def test_invalid_memory_access_fails_at_the_kernel_verifier_with_its_message(verified) -> None:
    report = verified["bad_memory"]
    kernel = stage(report, "kernelVerifier")
    assert (stage(report, "static").result, kernel.result) == ("Passed", "Failed")
    # 7.x words it "invalid dereference of R2", 6.x "R2 invalid mem access 'scalar'".
    assert re.search(r"invalid (dereference|mem access)", kernel.log), kernel.log
    assert stage(report, "dynamic").result == "Skipped"


def test_scheduler_that_never_dispatches_is_ejected_by_the_watchdog(verified) -> None:
    report = verified["never_dispatch"]
    dynamic = stage(report, "dynamic")
    assert stage(report, "kernelVerifier").result == "Passed"
    assert dynamic.result == "Failed"
    assert "ejected by the kernel" in dynamic.message and "stall" in dynamic.message
