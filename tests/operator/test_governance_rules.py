"""The rules a namespace lives under, and the canary's judgement for its neighbours, without
a cluster: the strictest governance object that selects a namespace decides."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from schedcp.api.v1alpha1.base import SchedulingMetrics
from schedcp.api.v1alpha1.governance import SchedulingGovernanceSpec
from schedcp.api.v1alpha1.policy import Mode
from schedcp_operator.conflicts import Rival, outranks
from schedcp_operator.evaluation import judge_neighbours
from schedcp_operator.governance import BUILT_IN, rules_for

pytestmark = pytest.mark.unit

OPEN = SchedulingGovernanceSpec.model_validate({
    "namespaceSelector": {"matchLabels": {"team": "a"}}, "allowAuto": True, "maxPriority": 500,
    "derivedPolicies": "Auto", "acceptNeighboursAuto": True, "maxNeighbourLossPercent": 30})


def test_an_ungoverned_cluster_has_no_rules_and_an_unselected_namespace_the_safe_defaults() -> None:
    assert rules_for("a", {"team": "a"}, {}) is None
    rules = rules_for("b", {"team": "b"}, {"open": OPEN})
    assert rules is not None and rules.by == (BUILT_IN,)
    assert (rules.allow_auto, rules.max_priority, rules.derived_policies, rules.accept_neighbours_auto) == (
        False, 100, Mode.RECOMMEND, False)


def test_the_strictest_of_the_governance_objects_selecting_a_namespace_wins() -> None:
    narrow = SchedulingGovernanceSpec.model_validate({"maxPriority": 300, "derivedPolicies": "Off", "allowAuto": True,
                                                      "acceptNeighboursAuto": True})
    rules = rules_for("a", {"team": "a"}, {"open": OPEN, "narrow": narrow})
    assert rules is not None and rules.by == ("narrow", "open")
    assert (rules.allow_auto, rules.max_priority, rules.derived_policies) == (True, 300, Mode.OFF)
    assert rules.max_neighbour_loss_percent == 10 and rules.derived_mode(Mode.AUTO) is None


def test_a_derived_policy_is_auto_only_when_both_the_operator_and_the_governance_say_so() -> None:
    rules = rules_for("a", {"team": "a"}, {"open": OPEN})
    assert rules is not None
    assert rules.derived_mode(Mode.AUTO) == Mode.AUTO and rules.derived_mode(Mode.RECOMMEND) == Mode.RECOMMEND
    recommend = rules_for("b", {}, {"open": OPEN})
    assert recommend is not None and recommend.derived_mode(Mode.AUTO) == Mode.RECOMMEND


def test_each_neighbour_is_judged_on_its_own_pods_and_its_own_limit() -> None:
    before = {"b": SchedulingMetrics(cpu_cores=1.0), "c": SchedulingMetrics(cpu_cores=1.0)}
    after = {"b": SchedulingMetrics(cpu_cores=0.75), "c": SchedulingMetrics(cpu_cores=0.75)}
    verdict = judge_neighbours(before, after, {"b": 30, "c": 10})
    assert verdict.regressed and "pods of namespaces c lost more than allowed" in verdict.summary
    assert not judge_neighbours(before, after, {"b": 30, "c": 30}).regressed
    # Below the noise floor nothing counts, whatever the percent.
    small = {"b": SchedulingMetrics(cpu_cores=0.2)}
    assert not judge_neighbours(small, {"b": SchedulingMetrics(cpu_cores=0.12)}, {"b": 0}).regressed


def test_a_priority_counts_in_conflicts_only_up_to_its_namespaces_cap() -> None:
    loud = Rival(namespace="a", name="loud", priority=1000, created="2026-01-02T00:00:00Z", deleting=False)
    older = SimpleNamespace(namespace="b", name="older", created="2026-01-01T00:00:00Z",
                            spec=SimpleNamespace(priority=100))
    assert outranks(loud, older)
    assert not outranks(loud, older, cap=lambda namespace: 100)  # capped, the older policy keeps the node
