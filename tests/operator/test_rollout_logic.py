"""The operator's pure decisions, without a cluster: the canary's judgement, kernel domains,
which of two policies owns a node, and what a node's report says about a rollout."""

from __future__ import annotations

import pytest

from schedcp.api.v1alpha1.base import ObjectReference, RevisionReference, SchedulingMetrics, now
from schedcp.api.v1alpha1.nodestate import (
    ActiveScheduler,
    KernelFacts,
    NodeSchedulerStateSpec,
    NodeSchedulerStateStatus,
    Preflight,
    SchedExtState,
)
from schedcp.api.v1alpha1.policy import NodePhase, NodeRollout, ObjectiveKind, Reason
from schedcp.api.v1alpha1.template import Outcome
from schedcp_operator.conflicts import rank
from schedcp_operator.evaluation import Judgement, judge, settled
from schedcp_operator.kernel_domains import kernel_domains
from schedcp_operator.node_assignments import owned_by, runs
from schedcp_operator.node_rollout import _observe
from schedcp_operator.workload import NodeReport

pytestmark = pytest.mark.unit

REVISION = RevisionReference(name="web-1", sha256="a" * 64)


def node(name: str, boot_id: str | None = None, policy: ObjectReference | None = None,
         active: ActiveScheduler | None = None) -> NodeReport:
    kernel = KernelFacts(release="6.12.0", boot_id=boot_id)
    return NodeReport(name, NodeSchedulerStateSpec(policy_ref=policy),
                      NodeSchedulerStateStatus(kernel=kernel, active=active), resource_version="1")


def latency(p50: int | None = None, p99: int | None = None, cores: float | None = None) -> SchedulingMetrics:
    return SchedulingMetrics(run_delay_p50_micros=p50, runq_latency_p99_micros=p99, cpu_cores=cores)


def judge_protected(before: SchedulingMetrics | None, after: SchedulingMetrics | None) -> Judgement:
    """A latency canary with no other pods, 10 % allowed."""
    return judge(ObjectiveKind.LATENCY, before=before, after=after, others_before=None, others_after=None,
                 max_regression_percent=10, max_batch_loss_percent=10)


def test_a_latency_canary_regresses_only_beyond_both_the_percent_and_the_noise_floor() -> None:
    def regressed(before: int, after: int) -> bool:
        return judge_protected(latency(p99=before), latency(p99=after)).regressed

    assert regressed(1000, 1300)           # +30 %, +300 µs
    assert not regressed(1000, 1050)       # within 10 %
    assert not regressed(100, 250)         # +150 %, but under the 200 µs floor
    assert not regressed(1000, 500)        # better


def test_the_latency_measure_is_the_tier2_p99_when_there_is_one_else_the_tier1_median() -> None:
    with_tier2 = judge_protected(latency(p50=100, p99=900), latency(p50=5000, p99=950))
    assert not with_tier2.regressed and "run-queue latency p99" in with_tier2.summary
    tier1 = judge_protected(latency(p50=1000), latency(p50=2000))
    assert tier1.regressed and "run delay p50" in tier1.summary


def test_the_other_pods_may_lose_cpu_up_to_the_accepted_batch_loss() -> None:
    def verdict(after: float) -> bool:
        return judge(ObjectiveKind.THROUGHPUT, before=latency(cores=1.0), after=latency(cores=1.0),
                     others_before=latency(cores=2.0), others_after=latency(cores=after),
                     max_regression_percent=10, max_batch_loss_percent=25).regressed

    assert not verdict(1.6)  # -20 % of 25 % allowed
    assert verdict(1.4)      # -30 %


def test_a_canary_without_measures_on_both_sides_is_not_a_regression() -> None:
    judgement = judge_protected(None, latency(p99=10_000))
    assert not judgement.regressed and "no protected pod" in judgement.summary


def test_nodes_reporting_one_boot_id_are_one_domain_and_the_rest_their_own() -> None:
    domains = kernel_domains({"b": node("b", "k1"), "a": node("a", "k1"), "c": node("c", "k2"), "d": node("d")})
    assert domains == {"a": ["a", "b"], "b": ["a", "b"], "c": ["c"], "d": ["d"]}


def test_higher_priority_ranks_first_then_the_older_policy_then_the_name() -> None:
    policies = [rank(100, "2026-01-02T00:00:00Z", "ns", "late"), rank(200, "2026-01-03T00:00:00Z", "ns", "urgent"),
                rank(100, "2026-01-01T00:00:00Z", "ns", "old"), rank(100, "2026-01-01T00:00:00Z", "a", "twin")]
    assert [r[3] for r in sorted(policies)] == ["urgent", "twin", "old", "late"]


def test_a_node_is_owned_by_the_policy_its_spec_names() -> None:
    mine, other = ObjectReference(namespace="ns", name="web"), ObjectReference(namespace="ns2", name="web")
    assert owned_by(node("n", policy=mine), mine)
    assert not owned_by(node("n", policy=other), mine)
    assert not owned_by(node("n"), mine)


def test_a_node_runs_a_revision_only_when_enabled_with_the_same_digest() -> None:
    enabled = ActiveScheduler(state=SchedExtState.ENABLED, revision=REVISION)
    assert runs(node("n", active=enabled), REVISION)
    assert not runs(node("n", active=enabled.model_copy(update={"state": SchedExtState.ENABLING})), REVISION)
    other_digest = REVISION.model_copy(update={"sha256": "b" * 64})
    assert not runs(node("n", active=enabled), other_digest)
    assert not runs(node("n"), REVISION)


def test_a_settled_revision_is_improved_neutral_or_regressed_beyond_noise_and_the_margin() -> None:
    def outcome(before: SchedulingMetrics | None, after: SchedulingMetrics | None, objective=ObjectiveKind.LATENCY):
        return settled(objective, before=before, after=after, max_regression_percent=10)[0]

    assert outcome(latency(p99=4000), latency(p99=800)) == Outcome.IMPROVED
    assert outcome(latency(p99=4000), latency(p99=12_000)) == Outcome.REGRESSED
    assert outcome(latency(p99=4000), latency(p99=3900)) == Outcome.NEUTRAL, "within the margin"
    assert outcome(latency(p99=500), latency(p99=400)) == Outcome.NEUTRAL, "within the noise floor"
    assert outcome(latency(cores=1.0), latency(cores=1.5), ObjectiveKind.THROUGHPUT) == Outcome.IMPROVED
    assert outcome(latency(cores=1.0), latency(cores=0.5), ObjectiveKind.THROUGHPUT) == Outcome.REGRESSED
    assert outcome(None, latency(p99=800)) is None


def test_a_preflight_the_node_failed_fails_the_node_naming_its_kernel_and_the_verifier_line() -> None:
    refused = node("n1")
    refused.status.preflight = Preflight(revision=REVISION, passed=False, time=now(),
                                         message="the kernel verifier of this node refused web-1: R2 invalid mem access 'scalar'",
                                         log="0: R1=ctx() R10=fp0\nR2 invalid mem access 'scalar'")
    entry = NodeRollout(name="n1", phase=NodePhase.APPLIED, since=now())
    _observe(entry, refused, REVISION, timeout_seconds=60)
    assert (entry.phase, entry.reason) == (NodePhase.FAILED, Reason.PREFLIGHT_FAILED)
    assert entry.message.startswith("preflight on kernel 6.12.0: ") and "invalid mem access" in entry.message
    other = RevisionReference(name="web-2", sha256="b" * 64)
    later = NodeRollout(name="n1", phase=NodePhase.APPLIED, since=now())
    _observe(later, refused, other, timeout_seconds=60)
    assert later.phase == NodePhase.APPLIED, "another revision's preflight says nothing of this one"
