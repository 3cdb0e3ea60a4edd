"""The kernel-verifier and dynamic stages, for real, in one micro-VM boot with a sched_ext kernel.

The boot is shared with the hostile corpus (conftest.one_boot), whose cases show each stage refusing.
"""

from __future__ import annotations

import pytest

from schedcp.templates import builtin_templates

pytestmark = pytest.mark.vm


def stage(report, name):
    return next(s for s in report.stages if s.name == name)


@pytest.mark.parametrize("name", sorted(builtin_templates()))
def test_builtin_passes_all_three_stages_and_really_ran(one_boot, name) -> None:
    report = one_boot[name]
    assert report.passed, [(s.name, s.result, s.message) for s in report.stages]
    assert f"ran under {report.ops_name}" in stage(report, "dynamic").message
    measured = [w for w in report.workloads if w.baseline is not None and w.candidate is not None]
    assert len(measured) == len(report.workloads) > 0
