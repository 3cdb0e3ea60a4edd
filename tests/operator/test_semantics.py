"""Specs the schema accepts but that cannot mean anything are found, with a reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schedcp.api.v1alpha1.base import LabelSelector
from schedcp.api.v1alpha1.policy import SchedulerPolicySpec
from schedcp_operator.semantics import contradiction, findings, merged

pytestmark = pytest.mark.unit


def policy(**overrides) -> SchedulerPolicySpec:
    raw = {"podSelector": {"matchLabels": {"app": "web"}}, "objective": {"kind": "latency"}} | overrides
    return SchedulerPolicySpec.model_validate(raw)


def reasons(spec: SchedulerPolicySpec, environ: dict[str, str] | None = None) -> list[str]:
    return [f.reason for f in findings(spec, environ or {})]


def test_a_plain_offline_policy_has_no_findings() -> None:
    assert reasons(policy()) == []


def test_label_required_with_two_values_is_unsatisfiable() -> None:
    spec = policy(
        podSelector={
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}],
        }
    )
    assert reasons(spec) == ["UnsatisfiableSelector"]


def test_label_both_required_and_forbidden_is_unsatisfiable() -> None:
    spec = policy(
        podSelector={
            "matchExpressions": [
                {"key": "tier", "operator": "Exists"},
                {"key": "tier", "operator": "DoesNotExist"},
            ]
        }
    )
    assert reasons(spec) == ["UnsatisfiableSelector"]


def test_protected_pods_outside_the_selection_are_found() -> None:
    spec = policy(objective={"kind": "latency", "protect": {"matchLabels": {"app": "db"}}})
    assert reasons(spec) == ["ProtectedPodsNotSelected"]


def test_claude_designer_needs_a_key_and_enough_calls() -> None:
    spec = policy(designer={"kind": "claude", "budget": {"maxCalls": 2}})
    assert reasons(spec) == ["BudgetTooSmall", "DesignerUnavailable"]
    assert reasons(spec, {"ANTHROPIC_API_KEY": "k"}) == ["BudgetTooSmall"]


labels = st.dictionaries(st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y"]), max_size=3)


@given(labels, labels)
def test_merged_selectors_contradict_exactly_when_their_labels_disagree(first, second) -> None:
    disagree = any(first[k] != second[k] for k in first.keys() & second.keys())
    combined = merged(LabelSelector(match_labels=first), LabelSelector(match_labels=second))
    assert (contradiction(combined) is not None) == disagree
