"""The life of an accepted SchedulerPolicy: Profiling -> Designing -> Verifying ->
(Recommended ->) Canary -> RollingOut -> Active, or Failed / RolledBack, or NoImprovement
(no candidate beat the kernel's own scheduler, which the nodes keep).

Each call of `Lifecycle.step` reads the world afresh (the policy, its pods, the nodes'
states, its revision; the operator hands it a World of its watch caches), takes at most one phase's worth of action and returns the status
to write. Everything a later step needs is in that status or in objects named by it, so
an operator that dies anywhere picks up where the status says: a finished design is a
SchedulerRevision whose name the status holds, and is never designed again.

The circuit breaker: a node that ejects the revision, does not report it active in time,
or (on a canary) makes the protected pods worse than the policy allows, or another
namespace's pods worse than their governance allows, sends every node this policy touched
back to what it ran before, and the rollout stops (RolledBack).

Tenancy (governance.py, consent.py): Auto counts only where the namespace's governance
allows it, and an Auto rollout waits (the node Recommended) on a node shared with pods of
namespaces that did not consent.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kubernetes import client

from schedcp.api.v1alpha1.base import ConditionStatus, ObjectReference, RevisionReference, SchedulingMetrics, now
from schedcp.api.v1alpha1.policy import (
    Mode,
    NodeCounts,
    NodePhase,
    NodeRollout,
    Phase,
    ProfileSummary,
    RolloutProgress,
    SchedulerPolicySpec,
    SchedulerPolicyStatus,
)
from schedcp.api.v1alpha1.revision import Approval
from schedcp.conditions import find_condition, set_condition
from schedcp.verifying.cache import verify_remembered
from schedcp_operator.assessment import ACCEPTED, VALID
from schedcp_operator.conflicts import outranks
from schedcp_operator.consent import holdouts, neighbours, waiting_message
from schedcp_operator.design.journal import DesignJournal
from schedcp_operator.design.observe import aggregate
from schedcp_operator.design_task import PROGRESS_KEY, RESULT_KEY, DesignProgress, DesignResult
from schedcp_operator.evaluation import Judgement, judge, judge_neighbours
from schedcp_operator.kernel_domains import kernel_domains
from schedcp_operator.node_assignments import Assignments, OwnerChanged, owned_by, runs
from schedcp_operator.revisions import PublishRefused, Revisions
from schedcp_operator.workload import NodeReport, Workload, observe_workload
from schedcp_operator.world import ApiWorld, World

log = logging.getLogger("schedcp.lifecycle")

READY, PROFILED, DESIGNED, VERIFIED, ROLLED_OUT, CONFLICT = (
    "Ready", "Profiled", "Designed", "Verified", "RolledOut", "Conflict")
NO_PODS_SELECTED, NODES_EXCLUDE_PODS, PROTECTED_NOT_SELECTED = (
    "NoPodsSelected", "NodeSelectorExcludesPods", "ProtectedPodsNotSelected")
_SELECTION_REASONS = (NO_PODS_SELECTED, NODES_EXCLUDE_PODS, PROTECTED_NOT_SELECTED)
# Fields a user may change without asking for a new design.
_NOT_DESIGN_INPUTS = {"mode", "approved_revision", "rollout", "priority"}
_WRITTEN = (NodePhase.APPLYING, NodePhase.APPLIED, NodePhase.ACTIVE, NodePhase.FAILED)
# Bad Request, Request Entity Too Large, Invalid (also an admission policy's denial).
_PERMANENT_REFUSALS = (400, 413, 422)
_ROLLING = (Phase.CANARY, Phase.ROLLING_OUT, Phase.ACTIVE)
APPROVED_BY_ANNOTATION = "schedcp.io/approved-by"
_NODE_MESSAGE_MAX = next(m.max_length for m in NodeRollout.model_fields["message"].metadata if hasattr(m, "max_length"))


def _touched(entry: NodeRollout) -> bool:
    """The node's NodeSchedulerState carries this policy's writing."""
    return entry.phase in _WRITTEN or (entry.phase == NodePhase.SHARED and entry.since is not None)


def spec_digest(spec: SchedulerPolicySpec) -> str:
    inputs = spec.model_dump(mode="json", exclude=_NOT_DESIGN_INPUTS)
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class PolicyView:
    namespace: str
    name: str
    uid: str
    generation: int
    created: str
    spec: SchedulerPolicySpec
    status: SchedulerPolicyStatus
    # Who set spec.approvedRevision, as the API server's admission policy recorded it.
    approved_by: str | None = None

    @classmethod
    def of(cls, obj: dict[str, Any]) -> PolicyView:
        meta = obj["metadata"]
        return cls(namespace=meta["namespace"], name=meta["name"], uid=meta["uid"], generation=int(meta.get("generation") or 0),
                   created=meta.get("creationTimestamp") or "", spec=SchedulerPolicySpec.model_validate(obj["spec"]),
                   status=SchedulerPolicyStatus.model_validate(obj.get("status") or {}),
                   approved_by=(meta.get("annotations") or {}).get(APPROVED_BY_ANNOTATION))

    @property
    def ref(self) -> ObjectReference:
        return ObjectReference(name=self.name, namespace=self.namespace)


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str


class Settings:
    def __init__(self, artifacts_namespace: str = "schedcp-system", release_timeout_seconds: float = 60,
                 design_concurrency: int = 2) -> None:
        self.artifacts_namespace = artifacts_namespace
        self.release_timeout_seconds = release_timeout_seconds
        self.design_concurrency = design_concurrency


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
        self.status.nodes = _counts(self.status.rollout)
        self.checkpoint(self.status)

    def condition(self, type: str, status: ConditionStatus, reason: str, message: str) -> None:
        self.status.conditions = set_condition(self.status.conditions, type=type, status=status, reason=reason,
                                               message=message[:32000], observed_generation=self.policy.generation)

    def ready(self, status: ConditionStatus, reason: str, message: str) -> None:
        self.condition(READY, status, reason, message)

    def enter(self, phase: Phase, reason: str, message: str, *, ready: ConditionStatus = ConditionStatus.FALSE,
              event_type: str = "Normal") -> None:
        self.status.phase = phase
        self.status.phase_since = now()
        self.ready(ready, reason, message)
        self.events.append(Event(event_type, reason, message[:1000]))

    def fail(self, reason: str, message: str) -> None:
        self.enter(Phase.FAILED, reason, message, event_type="Warning")

    def waited(self) -> float:
        since = self.status.phase_since or now()
        return (now() - since).total_seconds()


class Lifecycle:
    def __init__(self, api: client.ApiClient, settings: Settings) -> None:
        self.api = api
        self.settings = settings
        self.revisions = Revisions(api, settings.artifacts_namespace)
        self.assignments = Assignments(api)
        self.api_world = ApiWorld(api)

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
        st.status.nodes = _counts(st.status.rollout)
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
                self._break(st, "RequestRefused", message)
            else:
                st.fail("RequestRefused", message)

    # -- phases ----------------------------------------------------------------------------

    def _start(self, st: _Step) -> None:
        again = st.status.spec_digest is not None and st.status.phase != Phase.PENDING
        st.status.spec_digest = spec_digest(st.policy.spec)
        st.status.revision = None
        st.status.tried = []
        why = "the spec changed: profiling again for a new design" if again else "waiting for the selected pods' profiles"
        st.enter(Phase.PROFILING, "Profiling", why)

    def _profiling(self, st: _Step) -> None:
        spec = st.policy.spec
        workload = observe_workload(st.world, st.policy.namespace, spec)
        selection = _selection_problem(workload, spec, st.policy.namespace)
        _accept(st, selection)
        problem = selection or _profile_problem(workload, spec.profiling.min_samples)
        if problem:
            reason, message = problem
            if st.waited() > spec.profiling.timeout_seconds:
                st.condition(PROFILED, ConditionStatus.FALSE, "ProfilingTimedOut", message)
                st.fail("ProfilingTimedOut", f"after {spec.profiling.timeout_seconds}s: {message}")
                return
            st.condition(PROFILED, ConditionStatus.FALSE, reason, message)
            st.ready(ConditionStatus.FALSE, reason, message)
            return
        profile, _ = workload.design_profile(spec)
        st.status.profile = ProfileSummary(selected_pods=len(workload.pods), nodes=len(workload.hosts()),
                                           metrics=profile.protected)
        st.status.metrics_before = profile.protected
        message = (f"{len(workload.pods)} pods on {len(workload.hosts())} nodes; "
                   f"traits: {', '.join(profile.traits) or 'none'}")
        st.condition(PROFILED, ConditionStatus.TRUE, "Profiled", message)
        st.enter(Phase.DESIGNING, "Designing", f"profiled {message}; designing with {spec.designer.kind}")

    def _designing(self, st: _Step) -> None:
        """The design runs in a process of its own (design_runs); a step reads how it is doing."""
        journal = self._journal(st.policy)
        result = journal.read(RESULT_KEY, DesignResult)
        if result is None:
            self._design_progress(st, journal.read(PROGRESS_KEY, DesignProgress))
            return
        if result.revision is None:
            st.condition(DESIGNED, ConditionStatus.FALSE, result.reason, result.message)
            if result.reason == "NoImprovement":
                # Nothing failed: no node was touched, and none needs to be.
                st.status.tried = result.tried
                st.enter(Phase.NO_IMPROVEMENT, result.reason, result.message)
            else:
                st.fail(result.reason, result.message)
            return
        st.status.revision, st.status.cost = result.revision, result.cost
        st.condition(DESIGNED, ConditionStatus.TRUE, result.reason, result.message)
        st.enter(Phase.VERIFYING, result.reason, result.message)

    def _design_progress(self, st: _Step, progress: DesignProgress | None) -> None:
        """In the Designed condition (and an Event when it changes): a design runs for minutes."""
        reason, message = (progress.reason, progress.message) if progress else (
            "DesignQueued", f"waiting for a design slot (at most {self.settings.design_concurrency} run at once)")
        before = find_condition(st.status.conditions, DESIGNED)
        if before is None or (before.reason, before.message) != (reason, message):
            st.events.append(Event("Warning" if reason == "DesignerUnreachable" else "Normal", reason, message[:1000]))
        st.condition(DESIGNED, ConditionStatus.FALSE, reason, message)
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
            st.fail("RevisionMissing", f"SchedulerRevision {chosen.name} was deleted before it was rolled out")
            return
        spec, status = found
        report = status.verification
        if report is None:  # the operator stopped between creating the revision and its status
            report = verify_remembered(spec.source.text(), spec.tunables)
            self.revisions.record_verification(chosen.name, report)
        if not report.passed or report.object_sha256 != chosen.sha256:
            failed = next((s for s in report.stages if s.result == "Failed"), None)
            why = f"{failed.name}: {failed.message}" if failed else "the verified object is not the designed one"
            st.condition(VERIFIED, ConditionStatus.FALSE, "VerificationFailed", why)
            st.fail("VerificationFailed", f"revision {chosen.name} did not pass verification; {why}")
            return
        try:
            self.revisions.publish(RevisionReference(name=chosen.name, sha256=chosen.sha256), spec)
        except PublishRefused as error:
            st.fail("PublishRefused", str(error))
            return
        st.condition(VERIFIED, ConditionStatus.TRUE, "Passed", f"revision {chosen.name} passed all verifier stages")
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
            st.ready(ConditionStatus.FALSE, "ApprovalMismatch",
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
            for n in earlier.values() if _touched(n)
        ])
        st.status.metrics_after = None
        if st.policy.spec.mode == Mode.RECOMMEND and st.policy.approved_by:
            self.revisions.record_approval(chosen.name, Approval(policy=st.policy.ref, user=st.policy.approved_by,
                                                                 time=now()))
            st.events.append(Event("Normal", "Approved", f"revision {chosen.name} approved by {st.policy.approved_by}"))
        st.enter(Phase.CANARY, "Canary", f"rolling {chosen.name} out to canary nodes first")

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
            st.ready(ConditionStatus.FALSE, "EvaluatingCanary",
                     f"{rollout.revision.name} active on {len(canaries)} canary node(s); evaluating for "
                     f"{window - elapsed:.0f}s more")
            return
        on = {n.name for n in canaries}
        spec = st.policy.spec
        verdict = judge(spec.objective.kind, aggregate([n.metrics_before for n in canaries if n.metrics_before]),
                        workload.metrics(protected=True, on=on),
                        aggregate([n.others_before for n in canaries if n.others_before]),
                        workload.metrics(protected=False, on=on),
                        spec.rollout.max_regression_percent, spec.objective.max_batch_loss_percent)
        if verdict.regressed:
            self._break(st, "CanaryRegressed", f"canary {', '.join(sorted(on))}: {verdict.summary}")
            return
        hurt = self._judge_neighbours(st, workload, canaries)
        if hurt.regressed:
            self._break(st, "CanaryHurtNeighbours", f"canary {', '.join(sorted(on))}: {hurt.summary}")
            return
        st.events.append(Event("Normal", "CanaryPassed", f"{verdict.summary}; {hurt.summary}"))
        if any(n.phase in (NodePhase.PENDING, NodePhase.RECOMMENDED) for n in rollout.nodes):
            st.enter(Phase.ROLLING_OUT, "RollingOut", f"canary passed ({verdict.summary}); rolling out")
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
        self._share(st, workload, {n.name: n for n in st.status.rollout.nodes})
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
            st.enter(Phase.ROLLING_OUT, "RollingOut", f"selected pods now run on {', '.join(arrived)} too")
            return
        # Another namespace's pods may land on a node long after the rollout: they are told too.
        self._share(st, workload, {n.name: n for n in st.status.rollout.nodes})
        self._advance(st, workload, st.status.rollout.nodes)

    # -- nodes -----------------------------------------------------------------------------

    def _plan(self, st: _Step, workload: Workload) -> None:
        """Which nodes take part, which are canaries, which yield to a policy that outranks
        this one, and which share a kernel with a node whose agent loads for them."""
        rollout = st.status.rollout
        assert rollout is not None
        entries = {n.name: n for n in rollout.nodes}
        for host in workload.hosts():
            if host in workload.nodes and host not in entries:
                entries[host] = NodeRollout(name=host)
        domains = kernel_domains(workload.nodes)
        undecided = (NodePhase.PENDING, NodePhase.YIELDED, NodePhase.SHARED, NodePhase.RECOMMENDED)
        conflicts = []
        for entry in entries.values():
            if entry.phase not in undecided or entry.name not in workload.nodes or entry.since:
                continue
            rival = _rival(st, [workload.nodes[d] for d in domains[entry.name]])
            entry.phase, entry.message, entry.shares_kernel_with = NodePhase.PENDING, "", None
            if rival:
                entry.phase, entry.message = NodePhase.YIELDED, rival
                conflicts.append(f"node {entry.name}: {rival}")
        self._share(st, workload, entries)
        for entry in sorted(entries.values(), key=lambda n: n.name):
            loader = next((d for d in domains.get(entry.name, [entry.name]) if d in entries
                           and entries[d].phase not in (NodePhase.YIELDED, NodePhase.SHARED, NodePhase.REVERTED,
                                                        NodePhase.RECOMMENDED)), None)
            if entry.phase == NodePhase.PENDING and not entry.since and loader and loader != entry.name:
                entry.phase, entry.shares_kernel_with = NodePhase.SHARED, loader
                entry.message = f"shares its kernel with {loader}, whose agent loads for both"
        rollout.nodes = sorted(entries.values(), key=lambda n: n.name)
        if not any(n.canary for n in rollout.nodes):
            taking = [n for n in rollout.nodes if n.phase == NodePhase.PENDING][: st.policy.spec.rollout.canary_nodes]
            for entry in taking:
                entry.canary = True
        self._report_conflicts(st, conflicts)

    def _share(self, st: _Step, workload: Workload, entries: dict[str, NodeRollout]) -> None:
        """Name the namespaces whose pods share the policy's nodes (an Event when that changes),
        and hold an Auto rollout back on nodes where one of them did not consent."""
        namespace = st.policy.namespace
        sharing = neighbours(st.world, namespace, entries)
        if sorted(sharing) != st.status.neighbours:
            st.status.neighbours = sorted(sharing)
            if sharing:
                where = "; ".join(f"{ns} on {', '.join(nodes)}" for ns, nodes in sharing.items())
                st.events.append(Event("Normal", "SharedNodes", f"pods of other namespaces share this policy's nodes: {where}"))
        before = {n.name: (n.phase, n.message) for n in st.policy.status.rollout.nodes} if st.policy.status.rollout else {}
        domains = kernel_domains(workload.nodes)
        for entry in entries.values():
            if entry.phase not in (NodePhase.PENDING, NodePhase.RECOMMENDED) or entry.since:
                continue
            refusing = holdouts(st.world, namespace, domains.get(entry.name, [entry.name])) if _auto(st) else []
            entry.phase, entry.message = ((NodePhase.RECOMMENDED, waiting_message(entry.name, refusing)) if refusing
                                          else (NodePhase.PENDING, ""))
            if refusing and before.get(entry.name) != (entry.phase, entry.message):
                st.events.append(Event("Warning", "AwaitingConsent", f"node {entry.name}: {entry.message}"[:1000]))

    def _report_conflicts(self, st: _Step, conflicts: list[str]) -> None:
        if conflicts:
            st.condition(CONFLICT, ConditionStatus.TRUE, "NodeOwnedByAnotherPolicy", "; ".join(conflicts))
            if not any(n.phase != NodePhase.YIELDED for n in st.status.rollout.nodes):  # type: ignore[union-attr]
                st.ready(ConditionStatus.FALSE, "Conflict", "every node of this policy runs another policy's scheduler")
        else:
            st.condition(CONFLICT, ConditionStatus.FALSE, "NoConflict", "no other policy claims these nodes")

    def _advance(self, st: _Step, workload: Workload, entries: list[NodeRollout]) -> bool:
        """Write, watch and judge `entries`; True once all of them run the revision."""
        rollout = st.status.rollout
        assert rollout is not None
        limits = st.policy.spec.rollout
        for entry in entries:
            node = workload.nodes.get(entry.name)
            if node is None or entry.phase in (NodePhase.YIELDED, NodePhase.REVERTED, NodePhase.SHARED):
                continue
            if entry.phase == NodePhase.APPLYING:
                _settle(entry, node, st.policy.ref)
            if entry.phase in (NodePhase.APPLIED, NodePhase.ACTIVE) and not owned_by(node, st.policy.ref):
                entry.phase, entry.message = NodePhase.YIELDED, "another policy took the node"
                self._report_conflicts(st, [f"node {entry.name} was taken by policy {node.spec.policy_ref.name}"
                                            if node.spec.policy_ref else f"node {entry.name} was released by someone else"])
                continue
            if entry.phase in (NodePhase.APPLIED, NodePhase.ACTIVE):
                _observe(entry, node, rollout.revision, limits.activation_timeout_seconds)
        failed = [n for n in entries if n.phase == NodePhase.FAILED]
        if failed:
            self._break(st, failed[0].message.split(":")[0], "; ".join(f"{n.name}: {n.message}" for n in failed))
            return False
        in_flight = sum(n.phase in (NodePhase.APPLYING, NodePhase.APPLIED) for n in rollout.nodes)
        for entry in entries:
            if entry.phase == NodePhase.PENDING and in_flight < limits.max_unavailable:
                try:
                    self._apply(st, workload, entry)
                except OwnerChanged as error:
                    log.info("%s; deciding again next step", error)  # the plan re-checks ownership
                    continue
                in_flight += 1
        live = [n for n in entries if n.phase not in (NodePhase.YIELDED, NodePhase.REVERTED, NodePhase.SHARED)]
        return bool(live) and all(n.phase == NodePhase.ACTIVE for n in live)

    def _apply(self, st: _Step, workload: Workload, entry: NodeRollout) -> None:
        rollout = st.status.rollout
        assert rollout is not None
        followers = [f for f in rollout.nodes
                     if f.phase == NodePhase.SHARED and f.shares_kernel_with == entry.name and not f.since]
        for target in (entry, *followers):
            _record_previous(target, workload.nodes[target.name], st.policy.ref)
        entry.metrics_before = workload.metrics(protected=True, on={entry.name})
        entry.others_before = workload.metrics(protected=False, on={entry.name})
        entry.neighbours_before = workload.neighbours(st.policy.namespace, on={entry.name})
        entry.phase, entry.since, entry.message = NodePhase.APPLYING, now(), ""
        # A step can fail after a write has landed (even one whose answer was lost): the
        # record of what ran before must already be in the status, or a revert has nothing
        # to return the node to but the kernel's default.
        st.save()
        self.assignments.write(workload.nodes[entry.name], rollout.revision, st.policy.ref,
                               workload.pod_classes(entry.name))
        entry.phase = NodePhase.APPLIED
        for follower in followers:
            self.assignments.write(workload.nodes[follower.name], None, st.policy.ref, [], shared_kernel_with=entry.name)
            follower.since = now()
        role = "canary" if entry.canary else "node"
        st.events.append(Event("Normal", "NodeApplied", f"{role} {entry.name}: desired revision {rollout.revision.name}"))

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
        st.condition(ROLLED_OUT, ConditionStatus.TRUE, "RolledOut", message)
        st.enter(Phase.ACTIVE, "Active", message, ready=ConditionStatus.TRUE)

    def _break(self, st: _Step, reason: str, message: str) -> None:
        """The circuit breaker: every node this policy wrote goes back to what it ran before."""
        reverted = self._revert(st.policy, st.status, st.world)
        tail = f"; reverted {', '.join(reverted)}" if reverted else ""
        st.condition(ROLLED_OUT, ConditionStatus.FALSE, reason, message)
        st.enter(Phase.ROLLED_BACK, reason, f"{message}{tail}", event_type="Warning")

    def _revert(self, policy: PolicyView, status: SchedulerPolicyStatus, world: World) -> list[str]:
        if status.rollout is None:
            return []
        nodes = world.node_reports()
        reverted = []
        for entry in status.rollout.nodes:
            node = nodes.get(entry.name)
            # Ownership, not the entry's phase: a write may have landed in a step that failed after it.
            if node is None or not owned_by(node, policy.ref):
                continue
            self.assignments.write(node, entry.previous, entry.previous_owner, [])
            entry.phase, entry.since = NodePhase.REVERTED, now()
            reverted.append(entry.name)
        return reverted

    def _disable(self, st: _Step) -> None:
        reverted = self._revert(st.policy, st.status, st.world)
        if st.status.phase != Phase.DISABLED or reverted:
            tail = f"; reverted {', '.join(reverted)}" if reverted else ""
            st.enter(Phase.DISABLED, "Disabled", f"mode is Off: nothing is done{tail}")

    # -- deletion --------------------------------------------------------------------------

    def release(self, policy: PolicyView, deleting_since: datetime, world: World | None = None) -> str | None:
        """Revert the nodes; None once they are back (or their agents are gone), else what is awaited."""
        world = world or self.api_world
        self._journal(policy).close()
        status = policy.status.model_copy(deep=True)
        self._revert(policy, status, world)
        if status.rollout is None:
            return None
        nodes = world.node_reports()
        waiting = [e.name for e in status.rollout.nodes if e.phase in (*_WRITTEN, NodePhase.REVERTED)
                   and (node := nodes.get(e.name)) is not None and node.spec.desired_revision == e.previous
                   and not _back_on(node, e.previous)]
        if waiting and (now() - deleting_since).total_seconds() < self.settings.release_timeout_seconds:
            return f"waiting for {', '.join(waiting)} to report their previous scheduler"
        return None


def _auto(st: _Step) -> bool:
    """Auto as the namespace's governance allows it: an Auto spec it forbids (admitted before
    the governance tightened, or where no admission policy runs) waits for approval."""
    rules = st.world.rules(st.policy.namespace)
    return st.policy.spec.mode == Mode.AUTO and (rules is None or rules.allow_auto)


def _awaiting_approval(st: _Step, revision: str) -> tuple[str, str]:
    if st.policy.spec.mode != Mode.AUTO:
        return "AwaitingApproval", f"revision {revision} is verified; to roll it out set spec.approvedRevision: {revision}"
    rules = st.world.rules(st.policy.namespace)
    source = rules.source() if rules else "governance"
    return "AutoNotAllowed", (f"revision {revision} is verified, but {source} does not allow mode Auto in namespace "
                              f"{st.policy.namespace} (rule allowAuto): set mode Recommend and spec.approvedRevision: "
                              f"{revision}")


def _priority_cap(st: _Step, namespace: str) -> int | None:
    rules = st.world.rules(namespace)
    return rules.max_priority if rules else None


def _await_consent(st: _Step) -> None:
    """Ready says which nodes wait for their neighbours' consent, while any does."""
    waiting = [n for n in st.status.rollout.nodes if n.phase == NodePhase.RECOMMENDED] if st.status.rollout else []
    if waiting:
        st.ready(ConditionStatus.FALSE, "AwaitingConsent", "; ".join(f"node {n.name}: {n.message}" for n in waiting))
    elif (ready := find_condition(st.status.conditions, READY)) is not None and ready.reason == "AwaitingConsent":
        st.ready(ConditionStatus.FALSE, "Consented", "the nodes' neighbours consented; rolling out there")


def _rival(st: _Step, domain: list[NodeReport]) -> str | None:
    """Why a node of this kernel belongs to another policy that outranks this one, if it does."""
    for node in domain:
        owner = node.spec.policy_ref
        if owner and not owned_by(node, st.policy.ref) and outranks(st.world.policy(owner.namespace or "", owner.name),
                                                                     st.policy, cap=lambda ns: _priority_cap(st, ns)):
            where = "" if node is domain[0] and len(domain) == 1 else f" (node {node.name} shares this kernel)"
            return f"owned by policy {owner.namespace}/{owner.name}, which outranks this one{where}"
    return None


def _record_previous(entry: NodeRollout, node: NodeReport, policy: ObjectReference) -> None:
    """What the node runs, and for whom, unless that is already this policy's own writing."""
    if not owned_by(node, policy):
        entry.previous, entry.previous_owner = node.spec.desired_revision, node.spec.policy_ref


def _settle(entry: NodeRollout, node: NodeReport, policy: ObjectReference) -> None:
    """An entry that a step left Applying, having failed after the record was written."""
    if owned_by(node, policy) or node.spec.policy_ref != entry.previous_owner:
        entry.phase = NodePhase.APPLIED  # the write landed, or another policy took the node since: the caller tells
    else:
        entry.phase, entry.since = NodePhase.PENDING, None  # it never landed: write it again


def _back_on(node: NodeReport, previous: RevisionReference | None) -> bool:
    if previous is not None:
        return runs(node, previous)
    active = node.status.active
    return active is None or active.state in ("disabled", "unsupported")


def _node_message(text: str) -> str:
    """An agent's words cut to what the status schema holds: a status the API server
    refuses would be refused on every step, and the breaker's verdict never written."""
    return text if len(text) <= _NODE_MESSAGE_MAX else text[: _NODE_MESSAGE_MAX - 1] + "…"


def _observe(entry: NodeRollout, node: NodeReport, revision: RevisionReference, timeout_seconds: int) -> None:
    since = entry.since or now()
    ejection = node.status.last_ejection
    if ejection and ejection.revision == revision.name and ejection.time >= since - timedelta(seconds=1):
        entry.phase, entry.message = NodePhase.FAILED, _node_message(f"SchedulerEjected: {ejection.reason}")
    elif runs(node, revision):
        if entry.phase != NodePhase.ACTIVE:
            entry.phase, entry.since = NodePhase.ACTIVE, now()
    elif entry.phase == NodePhase.APPLIED and (now() - since).total_seconds() > timeout_seconds:
        ready = next((c for c in node.status.conditions if c.type == "Ready"), None)
        said = f" (agent: {ready.reason}: {ready.message})" if ready else " (no report from its agent)"
        entry.phase, entry.message = NodePhase.FAILED, _node_message(f"ActivationStalled: not active after {timeout_seconds}s{said}")


def _selection_problem(workload: Workload, spec: SchedulerPolicySpec, namespace: str) -> tuple[str, str] | None:
    """Which selector leaves the policy nothing to schedule, if one does."""
    if not workload.matched_pods:
        return NO_PODS_SELECTED, f"spec.podSelector matches no running pod in namespace {namespace}"
    if not workload.pods:
        nodes = workload.eligible_nodes
        where = f"matches {len(nodes)} node(s), none of which runs" if nodes else "matches no node, so it excludes"
        return NODES_EXCLUDE_PODS, f"spec.nodeSelector {where} the {workload.matched_pods} pod(s) spec.podSelector selects"
    if spec.objective.protect and not any(p.protected for p in workload.pods):
        return PROTECTED_NOT_SELECTED, (f"spec.objective.protect matches none of the {len(workload.pods)} pod(s) "
                                        "spec.podSelector selects")
    return None


def _accept(st: _Step, selection: tuple[str, str] | None) -> None:
    """Accepted=False while a selector leaves nothing to schedule, with one Warning Event when
    that starts or its reason changes; Accepted=True again once the pods are there."""
    before = find_condition(st.status.conditions, ACCEPTED)
    if selection is None:
        if before is not None and before.reason in _SELECTION_REASONS:
            st.condition(ACCEPTED, *VALID)
            st.events.append(Event("Normal", "Accepted", "the selectors now select pods to schedule"))
        return
    reason, message = selection
    if before is None or (before.status, before.reason) != (ConditionStatus.FALSE, reason):
        st.events.append(Event("Warning", reason, message))
    st.condition(ACCEPTED, ConditionStatus.FALSE, reason, message)


def _profile_problem(workload: Workload, min_samples: int) -> tuple[str, str] | None:
    hosts = workload.hosts()
    if not hosts:
        return "PodsNotScheduled", f"none of the {len(workload.pods)} selected pods is bound to a node yet"
    missing = [h for h in hosts if h not in workload.nodes or workload.nodes[h].status.heartbeat_time is None]
    if missing:
        return "AgentsMissing", f"no node agent reports for node(s) {', '.join(missing)}"
    short = []
    for pod in workload.pods:
        if pod.node is None:
            continue
        profile = workload.profile(pod)
        samples = profile.metrics.samples if profile else 0
        if samples < min_samples:
            short.append(f"{pod.name} ({samples})")
    if short:
        return "NotEnoughSamples", (f"{len(short)} of {len(workload.pods)} pods have fewer than {min_samples} samples: "
                                    f"{', '.join(short[:10])}")
    return None


def _refusal(error: client.ApiException) -> str:
    """The API server's own message, from the Status it answered with."""
    try:
        return str(json.loads(error.body or "")["message"])
    except (ValueError, KeyError, TypeError):
        return str(error.body or error.reason)


def _counts(rollout: RolloutProgress | None) -> NodeCounts | None:
    if rollout is None:
        return None
    live = [n for n in rollout.nodes if n.phase not in (NodePhase.YIELDED, NodePhase.SHARED)]
    return NodeCounts(targeted=len(live), canary=sum(n.canary for n in live),
                      active=sum(n.phase == NodePhase.ACTIVE for n in live),
                      failed=sum(n.phase == NodePhase.FAILED for n in live),
                      shared=sum(n.phase == NodePhase.SHARED for n in rollout.nodes))
