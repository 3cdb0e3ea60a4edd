"""The status a reconcile writes depends only on the spec: running it twice changes nothing."""

from __future__ import annotations

import pytest

from schedcp.api.v1alpha1.policy import Phase, SchedulerPolicySpec, SchedulerPolicyStatus
from schedcp_operator.assessment import next_status, verdict
from schedcp_operator.semantics import Finding

pytestmark = pytest.mark.unit


def spec(mode: str = "Recommend") -> SchedulerPolicySpec:
    return SchedulerPolicySpec.model_validate(
        {"podSelector": {"matchLabels": {"app": "web"}}, "objective": {"kind": "latency"}, "mode": mode}
    )


def test_reassessing_the_same_generation_is_a_fixed_point() -> None:
    first = next_status(SchedulerPolicyStatus(), verdict(spec(), []), generation=1)
    second = next_status(first, verdict(spec(), []), generation=1)
    assert second == first
    assert first.phase == Phase.PENDING


def test_transition_time_moves_only_when_a_condition_flips() -> None:
    accepted = next_status(SchedulerPolicyStatus(), verdict(spec(), []), generation=1)
    rejected = next_status(accepted, verdict(spec(), [Finding("BudgetTooSmall", "m")]), generation=2)
    times = {c.type: c.last_transition_time for c in accepted.conditions}
    ready_before = times["Ready"]
    ready_after = next(c for c in rejected.conditions if c.type == "Ready")
    assert rejected.phase == Phase.INVALID
    assert ready_after.reason == "BudgetTooSmall"
    assert ready_after.last_transition_time == ready_before  # Ready was False and stays False


def test_mode_off_disables_without_rejecting() -> None:
    status = next_status(SchedulerPolicyStatus(), verdict(spec("Off"), []), generation=3)
    assert status.phase == Phase.DISABLED
    assert {c.type: c.status for c in status.conditions} == {"Accepted": "True", "Ready": "False"}
    assert all(c.observed_generation == 3 for c in status.conditions)
