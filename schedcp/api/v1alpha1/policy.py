"""SchedulerPolicy: a user's scheduling intent for a set of pods (namespaced).

Refinements of the DESIGN.md sketch, and why:
- `objective` is a structured object (kind + which pods to protect + the batch loss the
  user accepts) instead of a bare enum, because the rollout's regression check and the
  planner both need the protected set and the tolerance, not just the goal's name.
- `mode` defaults to Recommend: code written by an LLM reaches a kernel only after a human
  approved it, unless the user opts into Auto explicitly.
- The budget's money limit is a decimal string: API conventions keep floats out of specs.
- `Accepted` (as in the Gateway API) says whether the spec makes sense; `Ready` summarises.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field

from schedcp.api.v1alpha1.base import (
    DECIMAL_USD,
    DNS_SUBDOMAIN,
    SHA256_HEX,
    ApiModel,
    Conditions,
    LabelKey,
    LabelSelector,
    LabelValue,
    ObjectReference,
    RevisionReference,
    SchedulingMetrics,
    cel,
    k8s_extensions,
)
from schedcp.api.v1alpha1.template import Outcome

GOAL_MAX_LENGTH = 2000


class Mode(StrEnum):
    AUTO = "Auto"
    RECOMMEND = "Recommend"
    OFF = "Off"


class ObjectiveKind(StrEnum):
    LATENCY = "latency"
    THROUGHPUT = "throughput"
    MAKESPAN = "makespan"
    BALANCED = "balanced"


class DesignerKind(StrEnum):
    CLAUDE = "claude"
    OFFLINE = "offline"


class Objective(ApiModel):
    kind: ObjectiveKind
    protect: Annotated[
        LabelSelector | None,
        Field(description="Pods whose metrics must improve; defaults to all selected pods."),
    ] = None
    max_batch_loss_percent: Annotated[int, Field(ge=0, le=100)] = 10


class Budget(ApiModel):
    max_calls: Annotated[int, Field(ge=1, le=500)] = 12
    max_tokens: Annotated[int, Field(ge=1000, le=10_000_000)] = 400_000
    max_cost_usd: Annotated[
        str, Field(pattern=DECIMAL_USD, description="Decimal US dollars, e.g. \"0.50\".")
    ] = "0.50"
    max_wall_seconds: Annotated[int, Field(ge=10, le=7200)] = 900

    def max_cost(self) -> Decimal:
        return Decimal(self.max_cost_usd)


class Designer(ApiModel):
    kind: DesignerKind = DesignerKind.OFFLINE
    model: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9.\-]*$")] = (
        "claude-sonnet-5-5"
    )
    budget: Budget = Budget()
    max_repairs: Annotated[int, Field(ge=0, le=10)] = 3


class Rollout(ApiModel):
    canary_nodes: Annotated[int, Field(ge=1, le=100)] = 1
    evaluation_window_seconds: Annotated[int, Field(ge=10, le=86_400)] = 300
    max_regression_percent: Annotated[int, Field(ge=0, le=100)] = 5
    max_unavailable: Annotated[int, Field(ge=1, le=1000)] = 1
    activation_timeout_seconds: Annotated[
        int, Field(ge=10, le=3600, description="A node that has not reported the revision active by then stalled.")
    ] = 180


class ProfilingRequirements(ApiModel):
    min_samples: Annotated[
        int, Field(ge=1, le=3600, description="Samples each selected pod's profile needs before a design starts.")
    ] = 10
    timeout_seconds: Annotated[int, Field(ge=10, le=86_400)] = 600


class SchedulerPolicySpec(ApiModel):
    model_config = ConfigDict(
        json_schema_extra=k8s_extensions(
            validations=[
                cel(
                    "!has(self.approvedRevision) || self.mode == 'Recommend'",
                    "approvedRevision is only meaningful with mode Recommend",
                    ".approvedRevision",
                )
            ]
        )
    )

    pod_selector: LabelSelector
    node_selector: Annotated[dict[LabelKey, LabelValue], Field(max_length=32)] = {}
    goal: Annotated[str, Field(max_length=GOAL_MAX_LENGTH)] = ""
    objective: Objective
    mode: Mode = Mode.RECOMMEND
    designer: Designer = Designer()
    rollout: Rollout = Rollout()
    profiling: ProfilingRequirements = ProfilingRequirements()
    priority: Annotated[int, Field(ge=0, le=1000)] = 100
    approved_revision: Annotated[
        str | None, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)
    ] = None


class Phase(StrEnum):
    PENDING = "Pending"
    INVALID = "Invalid"
    DISABLED = "Disabled"
    PROFILING = "Profiling"
    DESIGNING = "Designing"
    VERIFYING = "Verifying"
    RECOMMENDED = "Recommended"
    CANARY = "Canary"
    ROLLING_OUT = "RollingOut"
    ACTIVE = "Active"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"
    # Terminal like Failed, but nothing went wrong: no candidate beat the kernel's own
    # scheduler on the policy's objective, so the nodes keep it.
    NO_IMPROVEMENT = "NoImprovement"


class Reason(StrEnum):
    """The reasons a SchedulerPolicy's conditions and Events carry, one list: what users
    alert on, and what the operator's code compares instead of parsing messages."""

    # Accepted
    VALID = "Valid"
    NO_PODS_SELECTED = "NoPodsSelected"
    NODE_SELECTOR_EXCLUDES_PODS = "NodeSelectorExcludesPods"
    PROTECTED_PODS_NOT_SELECTED = "ProtectedPodsNotSelected"
    # Profiling
    PROFILING = "Profiling"
    PODS_NOT_SCHEDULED = "PodsNotScheduled"
    AGENTS_MISSING = "AgentsMissing"
    NOT_ENOUGH_SAMPLES = "NotEnoughSamples"
    PROFILING_TIMED_OUT = "ProfilingTimedOut"
    PROFILED = "Profiled"
    # Designing
    DESIGNING = "Designing"
    DESIGN_QUEUED = "DesignQueued"
    DESIGNER_UNREACHABLE = "DesignerUnreachable"
    DESIGNED = "Designed"
    NO_IMPROVEMENT = "NoImprovement"
    DESIGN_FAILED = "DesignFailed"
    BUDGET_EXHAUSTED = "BudgetExhausted"
    # Verifying and approval
    PASSED = "Passed"
    VERIFICATION_FAILED = "VerificationFailed"
    REVISION_MISSING = "RevisionMissing"
    PUBLISH_REFUSED = "PublishRefused"
    AWAITING_APPROVAL = "AwaitingApproval"
    APPROVAL_MISMATCH = "ApprovalMismatch"
    AUTO_NOT_ALLOWED = "AutoNotAllowed"  # the namespace's governance does not allow mode Auto
    APPROVED = "Approved"
    # Rollout
    CANARY = "Canary"
    NODE_APPLIED = "NodeApplied"
    EVALUATING_CANARY = "EvaluatingCanary"
    CANARY_PASSED = "CanaryPassed"
    SHARED_NODES = "SharedNodes"  # other namespaces' pods share the policy's nodes
    AWAITING_CONSENT = "AwaitingConsent"  # nodes wait for their neighbours' consent to Auto
    CONSENTED = "Consented"
    ROLLING_OUT = "RollingOut"
    ROLLED_OUT = "RolledOut"
    ACTIVE = "Active"
    # Learning: a verdict on the revision went into the repository's history
    OUTCOME_RECORDED = "OutcomeRecorded"
    PROMOTED = "Promoted"  # generated code that improved its workload became a SchedulerTemplate
    # Conflicts
    NO_CONFLICT = "NoConflict"
    NODE_OWNED_BY_ANOTHER_POLICY = "NodeOwnedByAnotherPolicy"
    CONFLICT = "Conflict"
    # The circuit breaker (RolledBack) and the ends
    CANARY_REGRESSED = "CanaryRegressed"
    CANARY_HURT_NEIGHBOURS = "CanaryHurtNeighbours"  # another namespace's pods lost beyond their limit
    SCHEDULER_EJECTED = "SchedulerEjected"
    PREFLIGHT_FAILED = "PreflightFailed"  # the kernel verifier of a node refused the revision before it attached
    ACTIVATION_STALLED = "ActivationStalled"
    REQUEST_REFUSED = "RequestRefused"
    DISABLED = "Disabled"


class ProfileSummary(ApiModel):
    selected_pods: Annotated[int, Field(ge=0)] = 0
    nodes: Annotated[int, Field(ge=0)] = 0
    metrics: SchedulingMetrics | None = None
    workload_signature: Annotated[str, Field(max_length=256, description="Objective and traits: the key of the "
                                                                        "repository's history.")] = ""


class ChosenRevision(ApiModel):
    name: Annotated[str, Field(max_length=253)]
    sha256: Annotated[str | None, Field(pattern=SHA256_HEX)] = None
    template: Annotated[str | None, Field(max_length=253)] = None
    rationale: Annotated[str, Field(max_length=8192)] = ""


class NodeCounts(ApiModel):
    targeted: Annotated[int, Field(ge=0)] = 0
    canary: Annotated[int, Field(ge=0)] = 0
    active: Annotated[int, Field(ge=0)] = 0
    failed: Annotated[int, Field(ge=0)] = 0
    shared: Annotated[int, Field(ge=0, description="Nodes that run the scheduler of a node they share a kernel with.")] = 0


class DesignCost(ApiModel):
    calls: Annotated[int, Field(ge=0)] = 0
    input_tokens: Annotated[int, Field(ge=0)] = 0
    output_tokens: Annotated[int, Field(ge=0)] = 0
    usd: Annotated[str, Field(pattern=DECIMAL_USD)] = "0"


class NodePhase(StrEnum):
    PENDING = "Pending"  # chosen, nothing written yet
    APPLYING = "Applying"  # what it ran before is recorded; the desiredRevision write may not have landed
    APPLIED = "Applied"  # desiredRevision written, the agent has not reported it active
    ACTIVE = "Active"
    FAILED = "Failed"  # ejected, stalled or regressed
    REVERTED = "Reverted"  # back on what it ran before this policy
    YIELDED = "Yielded"  # another policy owns the node (or a node sharing its kernel)
    SHARED = "Shared"  # shares its kernel with another node of the rollout, whose agent loads
    # Auto only: pods of namespaces whose governance did not consent run on it (or on a node
    # sharing its kernel), and no admin opted the node in; it waits as Recommend would.
    RECOMMENDED = "Recommended"


class NodeRollout(ApiModel):
    name: Annotated[str, Field(min_length=1, max_length=253)]
    canary: bool = False
    phase: NodePhase = NodePhase.PENDING
    since: datetime | None = None
    previous: Annotated[
        RevisionReference | None, Field(description="What the node ran before this policy; restored on rollback.")
    ] = None
    reason: Annotated[
        Reason | None, Field(description="Why the node failed (SchedulerEjected, ActivationStalled) or yielded.")
    ] = None
    message: Annotated[str, Field(max_length=1024)] = ""
    shares_kernel_with: Annotated[str | None, Field(max_length=253)] = None
    previous_owner: ObjectReference | None = None
    metrics_before: SchedulingMetrics | None = None
    others_before: SchedulingMetrics | None = None
    neighbours_before: Annotated[
        dict[str, SchedulingMetrics],
        Field(max_length=64, description="Other namespaces' pods on the node before, per namespace."),
    ] = {}


class RolloutProgress(ApiModel):
    revision: RevisionReference
    nodes: Annotated[list[NodeRollout], Field(max_length=1000)] = []


class CandidateVerdict(StrEnum):
    """What the design made of one candidate, judged against EEVDF in the same boot."""

    BETTER = "Better"  # beats EEVDF by more than the rounds' spread, within the batch-loss limit
    NOT_BETTER = "NotBetter"  # within the spread of EEVDF, or worse
    BATCH_LOSS = "BatchLoss"  # better on the objective, but the other pods lost more than allowed
    NOT_MEASURED = "NotMeasured"  # a round gave no number to judge
    UNSAFE = "Unsafe"  # refused by a safety stage, never judged on performance


class TriedDesign(ApiModel):
    """One row of what a design tried: the candidate and its objective measure (medians)."""

    template: Annotated[str | None, Field(max_length=253)] = None
    tunables: Annotated[dict[str, int], Field(max_length=32)] = {}
    verdict: CandidateVerdict
    metric: Annotated[str, Field(max_length=127)] = ""
    baseline: float | None = None
    candidate: float | None = None


class LearnedOutcome(ApiModel):
    """What the policy's revision did to its workload, for the repository's history: set when
    the revision reaches a verdict, `recorded` once it is in the template's history."""

    revision: Annotated[str, Field(max_length=253)]
    outcome: Outcome
    template: Annotated[str | None, Field(max_length=253)] = None
    before: SchedulingMetrics | None = None
    after: SchedulingMetrics | None = None
    note: Annotated[str, Field(max_length=2048, description="What was measured, and the limit crossed.")] = ""
    lesson: Annotated[str | None, Field(max_length=512, description="The learning role's one-line lesson (Claude "
                                                                    "designer); empty when it gave none.")] = None
    recorded: bool = False
    promoted: Annotated[str | None, Field(max_length=253, description="The template generated code became.")] = None


class SchedulerPolicyStatus(ApiModel):
    phase: Phase | None = None
    phase_since: datetime | None = None
    spec_digest: Annotated[
        str | None, Field(pattern=SHA256_HEX, description="Digest of the spec fields the design was made for.")
    ] = None
    observed_generation: Annotated[int | None, Field(ge=0)] = None
    conditions: Conditions = []
    profile: ProfileSummary | None = None
    revision: ChosenRevision | None = None
    nodes: NodeCounts | None = None
    cost: DesignCost | None = None
    rollout: RolloutProgress | None = None
    metrics_before: SchedulingMetrics | None = None
    metrics_after: SchedulingMetrics | None = None
    tried: Annotated[
        list[TriedDesign], Field(max_length=16, description="With phase NoImprovement: every candidate the design tried.")
    ] = []
    neighbours: Annotated[
        list[Annotated[str, Field(max_length=63)]],
        Field(max_length=64, description="Other namespaces whose pods share this policy's nodes."),
    ] = []
    outcome: LearnedOutcome | None = None
