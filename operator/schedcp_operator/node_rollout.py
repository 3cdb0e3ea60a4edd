"""The node-level mechanics of a rollout, apart from the policy's phases: which nodes take
part and which are canaries (plan), writing a node's desired revision once what it ran
before is on record (apply), reading the agents' reports (observe), and sending nodes back
to what they ran before (revert). The lifecycle turns what these find into phases,
conditions and Events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from kubernetes import client

from schedcp.api.v1alpha1.base import ConditionType, ObjectReference, RevisionReference, now
from schedcp.api.v1alpha1.policy import NodeCounts, NodePhase, NodeRollout, Reason, RolloutProgress
from schedcp.conditions import find_condition
from schedcp_operator.conflicts import outranks
from schedcp_operator.kernel_domains import kernel_domains
from schedcp_operator.node_assignments import Assignments, OwnerChanged, owned_by, runs
from schedcp_operator.policy_view import PolicyView
from schedcp_operator.workload import NodeReport, Workload
from schedcp_operator.world import World

log = logging.getLogger("schedcp.nodes")

WRITTEN = (NodePhase.APPLYING, NodePhase.APPLIED, NodePhase.ACTIVE, NodePhase.FAILED)
_LEFT_OUT = (NodePhase.YIELDED, NodePhase.REVERTED, NodePhase.SHARED)
_NODE_MESSAGE_MAX = next(m.max_length for m in NodeRollout.model_fields["message"].metadata if hasattr(m, "max_length"))


@dataclass
class Advance:
    """What one pass over a rollout's nodes found and did."""

    done: bool = False  # every node still taking part runs the revision
    failed: list[NodeRollout] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)  # nodes another policy took since they were written
    applied: list[str] = field(default_factory=list)  # the writes made, as Event messages


class NodeRollouts:
    def __init__(self, api: client.ApiClient) -> None:
        self.assignments = Assignments(api)

    def plan(self, rollout: RolloutProgress, *, policy: PolicyView, workload: Workload, world: World,
             hold_back: Callable[[dict[str, NodeRollout], dict[str, list[str]]], None]) -> list[str]:
        """Which nodes take part, which are canaries, which yield to a policy that outranks
        this one, which wait (`hold_back` marks them Recommended: the lifecycle's tenancy
        rules, given the kernel domains), and which share a kernel with a node whose agent loads for them; returns
        the conflicts found."""
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
            rival = _rival(policy, world, [workload.nodes[d] for d in domains[entry.name]])
            entry.phase, entry.reason, entry.message, entry.shares_kernel_with = NodePhase.PENDING, None, "", None
            if rival:
                entry.phase, entry.reason, entry.message = NodePhase.YIELDED, Reason.NODE_OWNED_BY_ANOTHER_POLICY, rival
                conflicts.append(f"node {entry.name}: {rival}")
        hold_back(entries, domains)
        for entry in sorted(entries.values(), key=lambda n: n.name):
            loader = next((d for d in domains.get(entry.name, [entry.name]) if d in entries
                           and entries[d].phase not in (NodePhase.YIELDED, NodePhase.SHARED, NodePhase.REVERTED,
                                                        NodePhase.RECOMMENDED)), None)
            if entry.phase == NodePhase.PENDING and not entry.since and loader and loader != entry.name:
                entry.phase, entry.shares_kernel_with = NodePhase.SHARED, loader
                entry.message = f"shares its kernel with {loader}, whose agent loads for both"
        rollout.nodes = sorted(entries.values(), key=lambda n: n.name)
        if not any(n.canary for n in rollout.nodes):
            taking = [n for n in rollout.nodes if n.phase == NodePhase.PENDING][: policy.spec.rollout.canary_nodes]
            for entry in taking:
                entry.canary = True
        return conflicts

    def advance(self, rollout: RolloutProgress, entries: list[NodeRollout], *, policy: PolicyView, workload: Workload,
                save: Callable[[], None]) -> Advance:
        """Observe `entries`, and write the next ones within maxUnavailable unless one failed.
        `save` puts the status on record before a node is written."""
        found = Advance()
        limits = policy.spec.rollout
        for entry in entries:
            node = workload.nodes.get(entry.name)
            if node is None or entry.phase in _LEFT_OUT:
                continue
            if entry.phase == NodePhase.APPLYING:
                _settle(entry, node, policy.ref)
            if entry.phase in (NodePhase.APPLIED, NodePhase.ACTIVE) and not owned_by(node, policy.ref):
                entry.phase, entry.reason = NodePhase.YIELDED, Reason.NODE_OWNED_BY_ANOTHER_POLICY
                entry.message = "another policy took the node"
                found.taken.append(f"node {entry.name} was taken by policy {node.spec.policy_ref.name}"
                                   if node.spec.policy_ref else f"node {entry.name} was released by someone else")
                continue
            if entry.phase in (NodePhase.APPLIED, NodePhase.ACTIVE):
                _observe(entry, node, rollout.revision, limits.activation_timeout_seconds)
        found.failed = [n for n in entries if n.phase == NodePhase.FAILED]
        if found.failed:
            return found
        in_flight = sum(n.phase in (NodePhase.APPLYING, NodePhase.APPLIED) for n in rollout.nodes)
        room = max(0, limits.max_unavailable - in_flight)
        taking = [n for n in entries if n.phase == NodePhase.PENDING][:room]
        for entry in taking:
            self._record(rollout, entry, policy=policy, workload=workload)
        if taking:
            # A step can fail after a write has landed (even one whose answer was lost): the
            # record of what ran before must already be in the status, or a revert has nothing
            # to return the node to but the kernel's default. One write for the whole batch:
            # the status of a 1000-node rollout is large.
            save()
        for entry in taking:
            try:
                found.applied.append(self._write(rollout, entry, policy=policy, workload=workload))
            except OwnerChanged as error:
                log.info("%s; deciding again next step", error)  # Applying: the next step settles it
        live = [n for n in entries if n.phase not in _LEFT_OUT]
        found.done = bool(live) and all(n.phase == NodePhase.ACTIVE for n in live)
        return found

    def _record(self, rollout: RolloutProgress, entry: NodeRollout, *, policy: PolicyView, workload: Workload) -> None:
        """What the node (and the nodes sharing its kernel) ran before, and its pods' metrics."""
        for target in (entry, *_followers(rollout, entry)):
            _record_previous(target, workload.nodes[target.name], policy.ref)
        entry.metrics_before = workload.metrics(protected=True, on={entry.name})
        entry.others_before = workload.metrics(protected=False, on={entry.name})
        entry.neighbours_before = workload.neighbours(policy.namespace, on={entry.name})
        entry.phase, entry.since, entry.reason, entry.message = NodePhase.APPLYING, now(), None, ""

    def _write(self, rollout: RolloutProgress, entry: NodeRollout, *, policy: PolicyView, workload: Workload) -> str:
        followers = _followers(rollout, entry)
        self.assignments.write(workload.nodes[entry.name], revision=rollout.revision, owner=policy.ref,
                               pod_classes=workload.pod_classes(entry.name))
        entry.phase = NodePhase.APPLIED
        for follower in followers:
            self.assignments.write(workload.nodes[follower.name], revision=None, owner=policy.ref, pod_classes=[],
                                   shared_kernel_with=entry.name)
            follower.since = now()
        role = "canary" if entry.canary else "node"
        return f"{role} {entry.name}: desired revision {rollout.revision.name}"

    def revert(self, rollout: RolloutProgress | None, policy: ObjectReference, nodes: dict[str, NodeReport]) -> list[str]:
        """Every node the policy owns goes back to what it ran before; returns their names."""
        if rollout is None:
            return []
        reverted = []
        for entry in rollout.nodes:
            node = nodes.get(entry.name)
            # Ownership, not the entry's phase: a write may have landed in a step that failed after it.
            if node is None or not owned_by(node, policy):
                continue
            self.assignments.write(node, revision=entry.previous, owner=entry.previous_owner, pod_classes=[])
            entry.phase, entry.since = NodePhase.REVERTED, now()
            reverted.append(entry.name)
        return reverted


def touched(entry: NodeRollout) -> bool:
    """The node's NodeSchedulerState carries this policy's writing."""
    return entry.phase in WRITTEN or (entry.phase == NodePhase.SHARED and entry.since is not None)


def not_yet_back(rollout: RolloutProgress, policy: ObjectReference, nodes: dict[str, NodeReport]) -> list[str]:
    """Reverted nodes whose agents do not report their previous scheduler yet.

    A node the policy still owns in `nodes` counts too: a watch cache shows the revert's
    write only after its event arrives, and the agent cannot have gone back before that."""
    return [e.name for e in rollout.nodes if e.phase in (*WRITTEN, NodePhase.REVERTED)
            and (node := nodes.get(e.name)) is not None
            and (node.spec.desired_revision == e.previous or owned_by(node, policy))
            and not _back_on(node, e.previous)]


def counts(rollout: RolloutProgress | None) -> NodeCounts | None:
    if rollout is None:
        return None
    live = [n for n in rollout.nodes if n.phase not in (NodePhase.YIELDED, NodePhase.SHARED)]
    return NodeCounts(targeted=len(live), canary=sum(n.canary for n in live),
                      active=sum(n.phase == NodePhase.ACTIVE for n in live),
                      failed=sum(n.phase == NodePhase.FAILED for n in live),
                      shared=sum(n.phase == NodePhase.SHARED for n in rollout.nodes))


def _followers(rollout: RolloutProgress, entry: NodeRollout) -> list[NodeRollout]:
    """Nodes sharing `entry`'s kernel that its agent loads for and that are not written yet."""
    return [f for f in rollout.nodes if f.phase == NodePhase.SHARED and f.shares_kernel_with == entry.name and not f.since]


def _rival(policy: PolicyView, world: World, domain: list[NodeReport]) -> str | None:
    """Why a node of this kernel belongs to another policy that outranks this one, if it does."""
    for node in domain:
        owner = node.spec.policy_ref
        if owner and not owned_by(node, policy.ref) and outranks(world.policy(owner.namespace or "", owner.name), policy,
                                                                 cap=lambda ns: _priority_cap(world, ns)):
            where = "" if node is domain[0] and len(domain) == 1 else f" (node {node.name} shares this kernel)"
            return f"owned by policy {owner.namespace}/{owner.name}, which outranks this one{where}"
    return None


def _priority_cap(world: World, namespace: str) -> int | None:
    rules = world.rules(namespace)
    return rules.max_priority if rules else None


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
    preflight = node.status.preflight
    if ejection and ejection.revision == revision.name and ejection.time >= since - timedelta(seconds=1):
        entry.phase, entry.reason, entry.message = NodePhase.FAILED, Reason.SCHEDULER_EJECTED, _node_message(ejection.reason)
    elif preflight and not preflight.passed and preflight.revision.name == revision.name:
        # As good as an ejection, before the fact: the node's own kernel refused the object.
        kernel = f"kernel {node.status.kernel.release}" if node.status.kernel else "its kernel"
        entry.phase, entry.reason = NodePhase.FAILED, Reason.PREFLIGHT_FAILED
        entry.message = _node_message(f"preflight on {kernel}: {preflight.message}\n{preflight.log}")
    elif runs(node, revision):
        if entry.phase != NodePhase.ACTIVE:
            entry.phase, entry.since = NodePhase.ACTIVE, now()
    elif entry.phase == NodePhase.APPLIED and (now() - since).total_seconds() > timeout_seconds:
        ready = find_condition(node.status.conditions, ConditionType.READY)
        said = f" (agent: {ready.reason}: {ready.message})" if ready else " (no report from its agent)"
        entry.phase, entry.reason = NodePhase.FAILED, Reason.ACTIVATION_STALLED
        entry.message = _node_message(f"not active after {timeout_seconds}s{said}")
