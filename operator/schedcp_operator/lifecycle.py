"""The life of an accepted SchedulerPolicy: Profiling -> Designing -> Verifying ->
(Recommended ->) Canary -> RollingOut -> Active, or Failed / RolledBack, or NoImprovement
(no candidate beat the kernel's own scheduler, which the nodes keep).

Each call of `Lifecycle.step` reads the world afresh (the policy, its pods, the nodes'
states, its revision; the operator hands it a World of its watch caches), takes at most
one phase's worth of action and returns the status to write. Everything a later step needs is in that status or in objects named by it, so
an operator that dies anywhere picks up where the status says: a finished design is a
SchedulerRevision whose name the status holds, and is never designed again.

The circuit breaker: a node that ejects the revision, does not report it active in time,
or (on a canary) makes the protected pods worse than the policy allows, sends every node
this policy touched back to what it ran before, and the rollout stops (RolledBack); so
does a canary that makes another namespace's pods worse than their governance allows.

Tenancy (governance.py, consent.py): Auto counts only where the namespace's governance
allows it, and an Auto rollout waits (the node Recommended) on a node shared with pods of
namespaces that did not consent.

The phases live here; what happens to each node (plan, apply, observe, revert) is
node_rollout's, and the design runs in a process of its own (design_runs, design_task).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from kubernetes import client

from schedcp.api.v1alpha1.base import ConditionStatus, ConditionType, RevisionReference, SchedulingMetrics, now
from schedcp.api.v1alpha1.policy import (
    DesignerKind,
    LearnedOutcome,
    Mode,
    NodePhase,
    NodeRollout,
    Phase,
    ProfileSummary,
    Reason,
    RolloutProgress,
    SchedulerPolicySpec,
    SchedulerPolicyStatus,
)
from schedcp.api.v1alpha1.revision import Approval
from schedcp.conditions import find_condition, set_condition
from schedcp.transport import API_ERRORS, describe
from schedcp.verifying.cache import verify_remembered
from schedcp_operator.assessment import VALID
from schedcp_operator.consent import holdouts, neighbours, opted_in, waiting_message
from schedcp_operator.design.journal import DesignJournal
from schedcp_operator.design.observe import aggregate
from schedcp_operator.design.repository import workload_signature
from schedcp_operator.design_exchange import PROGRESS_KEY, RESULT_KEY, DesignProgress, DesignResult
from schedcp_operator.evaluation import Judgement, judge, judge_neighbours, settled
from schedcp_operator.kernel_domains import kernel_domains
from schedcp_operator.learning import BREAK_OUTCOMES, Learning
from schedcp_operator.node_rollout import NodeRollouts, counts, not_yet_back, touched
from schedcp_operator.policy_view import PolicyView
from schedcp_operator.revisions import PublishRefused, Revisions
from schedcp_operator.workload import Workload, observe_workload
from schedcp_operator.world import ApiWorld, World

_SELECTION_REASONS = (Reason.NO_PODS_SELECTED, Reason.NODE_SELECTOR_EXCLUDES_PODS, Reason.PROTECTED_PODS_NOT_SELECTED)
# Fields a user may change without asking for a new design.
_NOT_DESIGN_INPUTS = {"mode", "approved_revision", "rollout", "priority"}
# Bad Request, Request Entity Too Large, Invalid (also an admission policy's denial).
_PERMANENT_REFUSALS = (400, 413, 422)
_ROLLING = (Phase.CANARY, Phase.ROLLING_OUT, Phase.ACTIVE)

log = logging.getLogger("schedcp.lifecycle")


def spec_digest(spec: SchedulerPolicySpec) -> str:
    inputs = spec.model_dump(mode="json", exclude=_NOT_DESIGN_INPUTS)
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Event:
    type: str
    reason: Reason
    message: str


class Settings:
    def __init__(self, artifacts_namespace: str = "schedcp-system", release_timeout_seconds: float = 60,
                 design_concurrency: int = 2, settle_seconds: float = 3600) -> None:
        self.artifacts_namespace = artifacts_namespace
        self.release_timeout_seconds = release_timeout_seconds
        self.design_concurrency = design_concurrency
        # How long a revision runs Active before its outcome is judged and learned from.
        self.settle_seconds = settle_seconds


Checkpoint = Callable[[SchedulerPolicyStatus], None]


@dataclass
class _Step:
    """One step's working copy: the status being built and the Events to post."""

    policy: PolicyView
    status: SchedulerPolicyStatus
    checkpoint: Checkpoint
    world: World
    events: list[Event] = field(default_factory=list)

    def save(self) -> None:
        """Write the status so far: what must be on record before the step acts on it."""
        self.status.nodes = counts(self.status.rollout)
        self.checkpoint(self.status)

    def condition(self, type: ConditionType, status: ConditionStatus, reason: Reason, message: str) -> None:
        self.status.conditions = set_condition(self.status.conditions, type=type, status=status, reason=reason,
                                               message=message[:32000], observed_generation=self.policy.generation)

    def ready(self, status: ConditionStatus, reason: Reason, message: str) -> None:
        self.condition(ConditionType.READY, status, reason, message)

    def enter(self, phase: Phase, reason: Reason, message: str, *, ready: ConditionStatus = ConditionStatus.FALSE,
              event_type: str = "Normal") -> None:
        self.status.phase = phase
        self.status.phase_since = now()
        self.ready(ready, reason, message)
        self.events.append(Event(event_type, reason, message[:1000]))

    def fail(self, reason: Reason, message: str) -> None:
        self.enter(Phase.FAILED, reason, message, event_type="Warning")

    def waited(self) -> float:
        since = self.status.phase_since or now()
        return (now() - since).total_seconds()


class Lifecycle:
    def __init__(self, api: client.ApiClient, settings: Settings) -> None:
        self.api = api
        self.settings = settings
        self.revisions = Revisions(api, settings.artifacts_namespace)
        self.nodes = NodeRollouts(api)
        self.api_world = ApiWorld(api)
        self.learning = Learning(api, self.revisions)

    # -- the entry point -------------------------------------------------------------------

    def step(self, policy: PolicyView, checkpoint: Checkpoint,
             world: World | None = None) -> tuple[SchedulerPolicyStatus, list[Event]]:
        """`checkpoint` writes a status mid-step (and the step goes no further if it fails);
        without a `world`, the step reads the API server."""
        st = _Step(policy, policy.status.model_copy(deep=True), checkpoint, world or self.api_world)
        phase = st.status.phase
        if phase in (None, Phase.INVALID):
            return st.status, []
        if policy.spec.mode == Mode.OFF:
            self._disable(st)
        elif phase == Phase.PENDING or (st.status.spec_digest != spec_digest(policy.spec) and phase != Phase.DISABLED):
            self._start(st)
        else:
            handler = {
                Phase.PROFILING: self._profiling, Phase.DESIGNING: self._designing, Phase.VERIFYING: self._verifying,
                Phase.RECOMMENDED: self._recommended, Phase.CANARY: self._canary,
                Phase.ROLLING_OUT: self._rolling_out, Phase.ACTIVE: self._active,
            }.get(phase)
            if handler:
                self._guarded(handler, st)
        if st.status.outcome is not None and not st.status.outcome.recorded:
            self._learn(st)
        st.status.nodes = counts(st.status.rollout)
        return st.status, st.events

    def _guarded(self, handler: Callable[[_Step], None], st: _Step) -> None:
        """A request the API server refuses as invalid is refused again on every retry:
        the policy stops there and says why, instead of retrying forever."""
        try:
            handler(st)
        except client.ApiException as error:
            if error.status not in _PERMANENT_REFUSALS:
                raise
            message = f"the API server refused a request ({error.status} {error.reason}): {_refusal(error)}"
            if st.policy.status.phase in _ROLLING:
                self._break(st, Reason.REQUEST_REFUSED, message)
            else:
                st.fail(Reason.REQUEST_REFUSED, message)

    # -- phases ----------------------------------------------------------------------------

    def _start(self, st: _Step) -> None:
        again = st.status.spec_digest is not None and st.status.phase != Phase.PENDING
        st.status.spec_digest = spec_digest(st.policy.spec)
        st.status.revision = None
        st.status.tried = []
        if st.status.outcome is not None and st.status.outcome.recorded:
            st.status.outcome = None
        why = "the spec changed: profiling again for a new design" if again else "waiting for the selected pods' profiles"
        st.enter(Phase.PROFILING, Reason.PROFILING, why)

    def _profiling(self, st: _Step) -> None:
        spec = st.policy.spec
        workload = observe_workload(st.world, st.policy.namespace, spec)
        selection = _selection_problem(workload, spec, st.policy.namespace)
        _accept(st, selection)
        problem = selection or _profile_problem(workload, spec.profiling.min_samples)
        if problem:
            reason, message = problem
            if st.waited() > spec.profiling.timeout_seconds:
                st.condition(ConditionType.PROFILED, ConditionStatus.FALSE, Reason.PROFILING_TIMED_OUT, message)
                st.fail(Reason.PROFILING_TIMED_OUT, f"after {spec.profiling.timeout_seconds}s: {message}")
                return
            st.condition(ConditionType.PROFILED, ConditionStatus.FALSE, reason, message)
            st.ready(ConditionStatus.FALSE, reason, message)
            return
        profile, _ = workload.design_profile(spec)
        st.status.profile = ProfileSummary(selected_pods=len(workload.pods), nodes=len(workload.hosts()),
                                           metrics=profile.protected, workload_signature=workload_signature(profile))
        st.status.metrics_before = profile.protected
        message = (f"{len(workload.pods)} pods on {len(workload.hosts())} nodes; "
                   f"traits: {', '.join(profile.traits) or 'none'}")
        st.condition(ConditionType.PROFILED, ConditionStatus.TRUE, Reason.PROFILED, message)
        avoided = self.learning.avoided(profile)
        avoiding = f"; avoiding what went wrong on this workload before: {'; '.join(avoided)}" if avoided else ""
        st.enter(Phase.DESIGNING, Reason.DESIGNING, f"profiled {message}; designing with {spec.designer.kind}{avoiding}")

    def _designing(self, st: _Step) -> None:
        """The design runs in a process of its own (design_runs); a step reads how it is doing."""
        journal = self._journal(st.policy)
        result = journal.read(RESULT_KEY, DesignResult)
        if result is None:
            self._design_progress(st, journal.read(PROGRESS_KEY, DesignProgress))
            return
        if result.revision is None:
            st.condition(ConditionType.DESIGNED, ConditionStatus.FALSE, result.reason, result.message)
            if result.reason == Reason.NO_IMPROVEMENT:
                # Nothing failed: no node was touched, and none needs to be.
                st.status.tried = result.tried
                st.enter(Phase.NO_IMPROVEMENT, result.reason, result.message)
            else:
                st.fail(result.reason, result.message)
            return
        st.status.revision, st.status.cost = result.revision, result.cost
        st.condition(ConditionType.DESIGNED, ConditionStatus.TRUE, result.reason, result.message)
        st.enter(Phase.VERIFYING, result.reason, result.message)

    def _design_progress(self, st: _Step, progress: DesignProgress | None) -> None:
        """In the Designed condition (and an Event when it changes): a design runs for minutes."""
        reason, message = (progress.reason, progress.message) if progress else (
            Reason.DESIGN_QUEUED, f"waiting for a design slot (at most {self.settings.design_concurrency} run at once)")
        before = find_condition(st.status.conditions, ConditionType.DESIGNED)
        if before is None or (before.reason, before.message) != (reason, message):
            st.events.append(Event("Warning" if reason == Reason.DESIGNER_UNREACHABLE else "Normal", reason, message[:1000]))
        st.condition(ConditionType.DESIGNED, ConditionStatus.FALSE, reason, message)
        st.ready(ConditionStatus.FALSE, reason, message)

    def _journal(self, policy: PolicyView) -> DesignJournal:
        return DesignJournal(self.api, self.settings.artifacts_namespace, policy.namespace, policy.name, policy.uid,
                             policy.status.spec_digest or "")

    def _verifying(self, st: _Step) -> None:
        chosen = st.status.revision
        assert chosen is not None and chosen.sha256
        # The status names the design's revision now: its record lives on in the provenance.
        self._journal(st.policy).close()
        found = self.revisions.read(chosen.name)
        if found is None:
            st.fail(Reason.REVISION_MISSING, f"SchedulerRevision {chosen.name} was deleted before it was rolled out")
            return
        spec, status = found
        report = status.verification
        if report is None:  # the operator stopped between creating the revision and its status
            report = verify_remembered(spec.source.text(), spec.tunables)
            self.revisions.record_verification(chosen.name, report)
        if not report.passed or report.object_sha256 != chosen.sha256:
            why = report.failure() or "the verified object is not the designed one"
            st.condition(ConditionType.VERIFIED, ConditionStatus.FALSE, Reason.VERIFICATION_FAILED, why)
            st.fail(Reason.VERIFICATION_FAILED, f"revision {chosen.name} did not pass verification; {why}")
            return
        try:
            self.revisions.publish(RevisionReference(name=chosen.name, sha256=chosen.sha256), spec)
        except PublishRefused as error:
            st.fail(Reason.PUBLISH_REFUSED, str(error))
            return
        st.condition(ConditionType.VERIFIED, ConditionStatus.TRUE, Reason.PASSED, f"revision {chosen.name} passed all verifier stages")
        if not _auto(st) and st.policy.spec.approved_revision != chosen.name:
            st.enter(Phase.RECOMMENDED, *_awaiting_approval(st, chosen.name))
            return
        self._start_canary(st)

    def _recommended(self, st: _Step) -> None:
        chosen = st.status.revision
        assert chosen is not None
        approved = st.policy.spec.approved_revision
        if _auto(st) or approved == chosen.name:
            self._start_canary(st)
        elif approved:
            st.ready(ConditionStatus.FALSE, Reason.APPROVAL_MISMATCH,
                     f"spec.approvedRevision is {approved}; the recommended revision is {chosen.name}")
        else:
            st.ready(ConditionStatus.FALSE, *_awaiting_approval(st, chosen.name))

    def _start_canary(self, st: _Step) -> None:
        chosen = st.status.revision
        assert chosen is not None and chosen.sha256
        ref = RevisionReference(name=chosen.name, sha256=chosen.sha256)
        earlier = {n.name: n for n in st.status.rollout.nodes} if st.status.rollout else {}
        st.status.rollout = RolloutProgress(revision=ref, nodes=[
            NodeRollout(name=n.name, previous=n.previous, previous_owner=n.previous_owner,
                        phase=NodePhase.PENDING)
            for n in earlier.values() if touched(n)
        ])
        st.status.metrics_after = None
        if st.policy.spec.mode == Mode.RECOMMEND and st.policy.approved_by:
            self.revisions.record_approval(chosen.name, Approval(policy=st.policy.ref, user=st.policy.approved_by,
                                                                 time=now()))
            st.events.append(Event("Normal", Reason.APPROVED,
                                   f"revision {chosen.name} approved by {st.policy.approved_by}"))
        st.enter(Phase.CANARY, Reason.CANARY, f"rolling {chosen.name} out to canary nodes first")

    def _canary(self, st: _Step) -> None:
        workload = observe_workload(st.world, st.policy.namespace, st.policy.spec)
        self._plan(st, workload)
        rollout = st.status.rollout
        assert rollout is not None
        canaries = [n for n in rollout.nodes if n.canary]
        if not canaries:
            _await_consent(st)
            return
        if not self._advance(st, workload, canaries):
            return
        window = self._evaluation_window(st, workload, canaries)
        elapsed = min((now() - (n.since or now())).total_seconds() for n in canaries)
        if elapsed < window:
            st.ready(ConditionStatus.FALSE, Reason.EVALUATING_CANARY,
                     f"{rollout.revision.name} active on {len(canaries)} canary node(s); evaluating for "
                     f"{window - elapsed:.0f}s more")
            return
        on = {n.name for n in canaries}
        spec = st.policy.spec
        verdict = judge(spec.objective.kind,
                        before=aggregate([n.metrics_before for n in canaries if n.metrics_before]),
                        after=workload.metrics(protected=True, on=on),
                        others_before=aggregate([n.others_before for n in canaries if n.others_before]),
                        others_after=workload.metrics(protected=False, on=on),
                        max_regression_percent=spec.rollout.max_regression_percent,
                        max_batch_loss_percent=spec.objective.max_batch_loss_percent)
        after = workload.metrics(protected=True, on=on)
        if verdict.regressed:
            limits = (f"limits: {spec.rollout.max_regression_percent}% worse for the protected pods, "
                      f"{spec.objective.max_batch_loss_percent}% less CPU for the others")
            self._break(st, Reason.CANARY_REGRESSED, f"canary {', '.join(sorted(on))}: {verdict.summary} ({limits})", after)
            return
        hurt = self._judge_neighbours(st, workload, canaries)
        if hurt.regressed:
            self._break(st, Reason.CANARY_HURT_NEIGHBOURS, f"canary {', '.join(sorted(on))}: {hurt.summary}", after)
            return
        st.events.append(Event("Normal", Reason.CANARY_PASSED, f"{verdict.summary}; {hurt.summary}"))
        if any(n.phase in (NodePhase.PENDING, NodePhase.RECOMMENDED) for n in rollout.nodes):
            st.enter(Phase.ROLLING_OUT, Reason.ROLLING_OUT, f"canary passed ({verdict.summary}); rolling out")
            return
        self._activate(st, workload)

    def _judge_neighbours(self, st: _Step, workload: Workload, canaries: list[NodeRollout]) -> Judgement:
        before: dict[str, list[SchedulingMetrics]] = {}
        for entry in canaries:
            for namespace, metrics in entry.neighbours_before.items():
                before.setdefault(namespace, []).append(metrics)
        limits = {ns: rules.max_neighbour_loss_percent if (rules := st.world.rules(ns)) is not None
                  else st.policy.spec.objective.max_batch_loss_percent for ns in before}
        return judge_neighbours({ns: total for ns, m in before.items() if (total := aggregate(m)) is not None},
                                workload.neighbours(st.policy.namespace, on={n.name for n in canaries}), limits)

    def _rolling_out(self, st: _Step) -> None:
        workload = observe_workload(st.world, st.policy.namespace, st.policy.spec)
        assert st.status.rollout is not None
        self._share(st, {n.name: n for n in st.status.rollout.nodes}, kernel_domains(workload.nodes))
        if self._advance(st, workload, st.status.rollout.nodes):
            self._activate(st, workload)
        else:
            _await_consent(st)

    def _active(self, st: _Step) -> None:
        workload = observe_workload(st.world, st.policy.namespace, st.policy.spec)
        assert st.status.rollout is not None
        known = {n.name for n in st.status.rollout.nodes}
        arrived = [h for h in workload.hosts() if h not in known and h in workload.nodes]
        if arrived:
            st.status.rollout.nodes += [NodeRollout(name=h) for h in arrived]
            st.enter(Phase.ROLLING_OUT, Reason.ROLLING_OUT, f"selected pods now run on {', '.join(arrived)} too")
            return
        # Another namespace's pods may land on a node long after the rollout: they are told too.
        self._share(st, {n.name: n for n in st.status.rollout.nodes}, kernel_domains(workload.nodes))
        if self._advance(st, workload, st.status.rollout.nodes):
            self._settle(st, workload)

    def _settle(self, st: _Step, workload: Workload) -> None:
        """Once the revision has run for the settling time: its outcome, against the canary's before."""
        rollout = st.status.rollout
        assert rollout is not None
        learned = st.status.outcome
        if (learned is not None and learned.revision == rollout.revision.name) or st.waited() < self.settings.settle_seconds:
            return
        before = _canary_before(rollout)
        after = workload.metrics(protected=True, on={n.name for n in rollout.nodes if n.canary})
        outcome, finding = settled(st.policy.spec.objective.kind, before=before, after=after,
                                   max_regression_percent=st.policy.spec.rollout.max_regression_percent)
        if outcome is None:
            return
        st.status.outcome = LearnedOutcome(revision=rollout.revision.name, outcome=outcome, template=_template(st),
                                           before=before, after=after,
                                           note=f"after {self.settings.settle_seconds:.0f}s Active: {finding}")

    # -- nodes (the mechanics are node_rollout's) ------------------------------------------

    def _plan(self, st: _Step, workload: Workload) -> None:
        assert st.status.rollout is not None
        conflicts = self.nodes.plan(st.status.rollout, policy=st.policy, workload=workload, world=st.world,
                                    hold_back=lambda entries, domains: self._share(st, entries, domains))
        self._report_conflicts(st, conflicts)

    def _share(self, st: _Step, entries: dict[str, NodeRollout], domains: dict[str, list[str]]) -> None:
        """Name the namespaces whose pods share the policy's nodes (an Event when that changes),
        and hold an Auto rollout back on nodes where one of them did not consent."""
        namespace = st.policy.namespace
        sharing = neighbours(st.world, namespace, entries)
        if sorted(sharing) != st.status.neighbours:
            st.status.neighbours = sorted(sharing)
            if sharing:
                where = "; ".join(f"{ns} on {', '.join(nodes)}" for ns, nodes in sharing.items())
                st.events.append(Event("Normal", Reason.SHARED_NODES,
                                       f"pods of other namespaces share this policy's nodes: {where}"))
        before = {n.name: (n.phase, n.message) for n in st.policy.status.rollout.nodes} if st.policy.status.rollout else {}
        opted = opted_in(st.world) if _auto(st) else set()
        for entry in entries.values():
            if entry.phase not in (NodePhase.PENDING, NodePhase.RECOMMENDED) or entry.since:
                continue
            refusing = holdouts(st.world, namespace, domains.get(entry.name, [entry.name]), opted) if _auto(st) else []
            entry.phase, entry.reason, entry.message = (
                (NodePhase.RECOMMENDED, Reason.AWAITING_CONSENT, waiting_message(entry.name, refusing)) if refusing
                else (NodePhase.PENDING, None, ""))
            if refusing and before.get(entry.name) != (entry.phase, entry.message):
                st.events.append(Event("Warning", Reason.AWAITING_CONSENT, f"node {entry.name}: {entry.message}"[:1000]))

    def _report_conflicts(self, st: _Step, conflicts: list[str]) -> None:
        if conflicts:
            st.condition(ConditionType.CONFLICT, ConditionStatus.TRUE, Reason.NODE_OWNED_BY_ANOTHER_POLICY, "; ".join(conflicts))
            if not any(n.phase != NodePhase.YIELDED for n in st.status.rollout.nodes):  # type: ignore[union-attr]
                st.ready(ConditionStatus.FALSE, Reason.CONFLICT, "every node of this policy runs another policy's scheduler")
        else:
            st.condition(ConditionType.CONFLICT, ConditionStatus.FALSE, Reason.NO_CONFLICT, "no other policy claims these nodes")

    def _advance(self, st: _Step, workload: Workload, entries: list[NodeRollout]) -> bool:
        """Write, watch and judge `entries`; True once all of them run the revision."""
        assert st.status.rollout is not None
        found = self.nodes.advance(st.status.rollout, entries, policy=st.policy, workload=workload, save=st.save)
        if found.taken:
            self._report_conflicts(st, found.taken)
        if found.failed:
            # An entry failed by an operator older than NodeRollout.reason carries none.
            self._break(st, found.failed[0].reason or Reason.ACTIVATION_STALLED,
                        "; ".join(f"{n.name}: {n.reason}: {n.message}" for n in found.failed))
            return False
        st.events += [Event("Normal", Reason.NODE_APPLIED, message) for message in found.applied]
        return found.done

    def _evaluation_window(self, st: _Step, workload: Workload, canaries: list[NodeRollout]) -> float:
        """The policy's window, or longer if an agent's profile window would still hold samples from before."""
        agent_windows = [profiling.window_seconds for n in canaries
                         if n.name in workload.nodes and (profiling := workload.nodes[n.name].status.profiling)]
        return float(max([st.policy.spec.rollout.evaluation_window_seconds, *agent_windows]))

    def _activate(self, st: _Step, workload: Workload) -> None:
        rollout = st.status.rollout
        assert rollout is not None
        st.status.metrics_after = workload.metrics(protected=True)
        active = [n.name for n in rollout.nodes if n.phase == NodePhase.ACTIVE]
        message = f"revision {rollout.revision.name} active on {len(active)} node(s): {', '.join(active)}"
        st.condition(ConditionType.ROLLED_OUT, ConditionStatus.TRUE, Reason.ROLLED_OUT, message)
        st.enter(Phase.ACTIVE, Reason.ACTIVE, message, ready=ConditionStatus.TRUE)

    def _break(self, st: _Step, reason: Reason, message: str, after: SchedulingMetrics | None = None) -> None:
        """The circuit breaker: every node this policy wrote goes back to what it ran before.
        A verdict on the scheduler itself (a regression, an ejection) is learned from."""
        reverted = self.nodes.revert(st.status.rollout, st.policy.ref, st.world.node_reports())
        tail = f"; reverted {', '.join(reverted)}" if reverted else ""
        st.condition(ConditionType.ROLLED_OUT, ConditionStatus.FALSE, reason, message)
        st.enter(Phase.ROLLED_BACK, reason, f"{message}{tail}", event_type="Warning")
        rollout = st.status.rollout
        if reason in BREAK_OUTCOMES and rollout is not None:
            st.status.outcome = LearnedOutcome(revision=rollout.revision.name, outcome=BREAK_OUTCOMES[reason],
                                               template=_template(st), before=_canary_before(rollout), after=after,
                                               note=message[:2048])

    def _learn(self, st: _Step) -> None:
        """The verdict into the repository: the status that holds it is written first, so a
        restarted operator finishes the recording rather than judging again; the template's
        history takes each (revision, outcome) once. A failure leaves it for the next step."""
        signature = st.status.profile.workload_signature if st.status.profile else ""
        learned = st.status.outcome
        assert learned is not None
        if not signature:  # a policy profiled by an operator that did not keep signatures
            st.status.outcome = learned.model_copy(update={"recorded": True})
            return
        try:
            st.save()
            learned = self.learning.target(st.policy, learned, signature)
            if learned.promoted and not learned.recorded:
                st.events.append(Event("Normal", Reason.PROMOTED, (
                    f"generated revision {learned.revision} improved this workload ({signature}): "
                    f"promoted to SchedulerTemplate {learned.promoted}")[:1000]))
            if not learned.recorded and st.policy.spec.designer.kind == DesignerKind.CLAUDE and learned.lesson is None:
                st.status.outcome = learned = learned.model_copy(update={
                    "lesson": self.learning.lesson(st.policy, learned, signature)})
                st.save()  # the call is not made twice
            if not learned.recorded:
                learned = self.learning.record(st.policy, learned, signature)
                st.events.append(Event("Normal", Reason.OUTCOME_RECORDED, (
                    f"{learned.outcome} on {signature}: revision {learned.revision} ({learned.template}): "
                    f"{learned.lesson or learned.note}")[:1000]))
        except API_ERRORS as error:
            log.warning("%s/%s: the outcome of %s is not recorded yet: %s", st.policy.namespace, st.policy.name,
                        learned.revision, describe(error))
            return
        st.status.outcome = learned.model_copy(update={"recorded": True})

    def _disable(self, st: _Step) -> None:
        reverted = self.nodes.revert(st.status.rollout, st.policy.ref, st.world.node_reports())
        if st.status.phase != Phase.DISABLED or reverted:
            tail = f"; reverted {', '.join(reverted)}" if reverted else ""
            st.enter(Phase.DISABLED, Reason.DISABLED, f"mode is Off: nothing is done{tail}")

    # -- deletion --------------------------------------------------------------------------

    def release(self, policy: PolicyView, deleting_since: datetime, world: World | None = None) -> str | None:
        """Revert the nodes; None once they are back (or their agents are gone), else what is awaited."""
        world = world or self.api_world
        self._journal(policy).close()
        rollout = policy.status.model_copy(deep=True).rollout
        reports = world.node_reports()
        self.nodes.revert(rollout, policy.ref, reports)
        if rollout is None:
            return None
        waiting = not_yet_back(rollout, policy.ref, reports)
        if waiting and (now() - deleting_since).total_seconds() < self.settings.release_timeout_seconds:
            return f"waiting for {', '.join(waiting)} to report their previous scheduler"
        return None


def _canary_before(rollout: RolloutProgress) -> SchedulingMetrics | None:
    return aggregate([n.metrics_before for n in rollout.nodes if n.canary and n.metrics_before])


def _template(st: _Step) -> str | None:
    return st.status.revision.template if st.status.revision else None


def _auto(st: _Step) -> bool:
    """Auto as the namespace's governance allows it: an Auto spec it forbids (admitted before
    the governance tightened, or where no admission policy runs) waits for approval."""
    rules = st.world.rules(st.policy.namespace)
    return st.policy.spec.mode == Mode.AUTO and (rules is None or rules.allow_auto)


def _awaiting_approval(st: _Step, revision: str) -> tuple[Reason, str]:
    if st.policy.spec.mode != Mode.AUTO:
        return Reason.AWAITING_APPROVAL, f"revision {revision} is verified; to roll it out set spec.approvedRevision: {revision}"
    rules = st.world.rules(st.policy.namespace)
    source = rules.source() if rules else "governance"
    return Reason.AUTO_NOT_ALLOWED, (f"revision {revision} is verified, but {source} does not allow mode Auto in namespace "
                                     f"{st.policy.namespace} (rule allowAuto): set mode Recommend and "
                                     f"spec.approvedRevision: {revision}")


def _await_consent(st: _Step) -> None:
    """Ready says which nodes wait for their neighbours' consent, while any does."""
    waiting = [n for n in st.status.rollout.nodes if n.phase == NodePhase.RECOMMENDED] if st.status.rollout else []
    if waiting:
        st.ready(ConditionStatus.FALSE, Reason.AWAITING_CONSENT, "; ".join(f"node {n.name}: {n.message}" for n in waiting))
    elif (ready := find_condition(st.status.conditions, ConditionType.READY)) is not None \
            and ready.reason == Reason.AWAITING_CONSENT:
        st.ready(ConditionStatus.FALSE, Reason.CONSENTED, "the nodes' neighbours consented; rolling out there")


def _selection_problem(workload: Workload, spec: SchedulerPolicySpec, namespace: str) -> tuple[Reason, str] | None:
    """Which selector leaves the policy nothing to schedule, if one does."""
    if not workload.matched_pods:
        return Reason.NO_PODS_SELECTED, f"spec.podSelector matches no running pod in namespace {namespace}"
    if not workload.pods:
        nodes = workload.eligible_nodes
        where = f"matches {len(nodes)} node(s), none of which runs" if nodes else "matches no node, so it excludes"
        return Reason.NODE_SELECTOR_EXCLUDES_PODS, f"spec.nodeSelector {where} the {workload.matched_pods} pod(s) spec.podSelector selects"
    if spec.objective.protect and not any(p.protected for p in workload.pods):
        return Reason.PROTECTED_PODS_NOT_SELECTED, (f"spec.objective.protect matches none of the {len(workload.pods)} pod(s) "
                                        "spec.podSelector selects")
    return None


def _accept(st: _Step, selection: tuple[Reason, str] | None) -> None:
    """Accepted=False while a selector leaves nothing to schedule, with one Warning Event when
    that starts or its reason changes; Accepted=True again once the pods are there."""
    before = find_condition(st.status.conditions, ConditionType.ACCEPTED)
    if selection is None:
        if before is not None and before.reason in _SELECTION_REASONS:
            st.condition(ConditionType.ACCEPTED, *VALID)
            st.events.append(Event("Normal", Reason.VALID, "the selectors now select pods to schedule"))
        return
    reason, message = selection
    if before is None or (before.status, before.reason) != (ConditionStatus.FALSE, reason):
        st.events.append(Event("Warning", reason, message))
    st.condition(ConditionType.ACCEPTED, ConditionStatus.FALSE, reason, message)


def _profile_problem(workload: Workload, min_samples: int) -> tuple[Reason, str] | None:
    hosts = workload.hosts()
    if not hosts:
        return Reason.PODS_NOT_SCHEDULED, f"none of the {len(workload.pods)} selected pods is bound to a node yet"
    missing = [h for h in hosts if h not in workload.nodes or workload.nodes[h].status.heartbeat_time is None]
    if missing:
        return Reason.AGENTS_MISSING, f"no node agent reports for node(s) {', '.join(missing)}"
    short = []
    for pod in workload.pods:
        if pod.node is None:
            continue
        profile = workload.profile(pod)
        samples = profile.metrics.samples if profile else 0
        if samples < min_samples:
            short.append(f"{pod.name} ({samples})")
    if short:
        return Reason.NOT_ENOUGH_SAMPLES, (f"{len(short)} of {len(workload.pods)} pods have fewer than {min_samples} samples: "
                                    f"{', '.join(short[:10])}")
    return None


def _refusal(error: client.ApiException) -> str:
    """The API server's own message, from the Status it answered with."""
    try:
        return str(json.loads(error.body or "")["message"])
    except (ValueError, KeyError, TypeError):
        return str(error.body or error.reason)
