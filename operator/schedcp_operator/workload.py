"""A policy's workload as the cluster shows it: the pods it selects, the nodes they run on,
and what each node's agent measured of them (read from the NodeSchedulerStates), taken
from a World (the operator's watch caches, or the API server)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from schedcp.api.v1alpha1.base import LabelSelector, LabelSelectorRequirement, SchedulingMetrics, SelectorOperator
from schedcp.api.v1alpha1.nodestate import (
    KernelFacts,
    NodeSchedulerStateSpec,
    NodeSchedulerStateStatus,
    PodClass,
    PodProfile,
    WorkloadClass,
)
from schedcp.api.v1alpha1.policy import ObjectiveKind, SchedulerPolicySpec
from schedcp_operator.design.observe import aggregate, build_profile
from schedcp_operator.design.profile import WorkloadProfile

if TYPE_CHECKING:
    from schedcp_operator.world import World

OPTIMIZE_ANNOTATION = "schedcp.io/optimize"
_CLASS_OF_OBJECTIVE = {ObjectiveKind.LATENCY: WorkloadClass.LATENCY, ObjectiveKind.THROUGHPUT: WorkloadClass.THROUGHPUT,
                       ObjectiveKind.MAKESPAN: WorkloadClass.BATCH, ObjectiveKind.BALANCED: WorkloadClass.THROUGHPUT}


def selects(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics, for pods held in memory."""
    return (all(labels.get(key) == value for key, value in selector.match_labels.items())
            and all(_meets(req, labels) for req in selector.match_expressions))


def _meets(req: LabelSelectorRequirement, labels: Mapping[str, str]) -> bool:
    present = req.key in labels
    if req.operator == SelectorOperator.IN:
        return present and labels[req.key] in req.values
    if req.operator == SelectorOperator.NOT_IN:
        return not present or labels[req.key] not in req.values
    return present == (req.operator == SelectorOperator.EXISTS)


@dataclass(frozen=True)
class PodFacts:
    """What a policy needs of a pod: a few fields, not the object (the operator holds every pod)."""

    namespace: str
    name: str
    uid: str
    labels: dict[str, str]
    optimize: str | None
    node: str | None
    live: bool

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> PodFacts:
        meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
        return cls(namespace=meta["namespace"], name=meta["name"], uid=meta["uid"], labels=dict(meta.get("labels") or {}),
                   optimize=(meta.get("annotations") or {}).get(OPTIMIZE_ANNOTATION), node=spec.get("nodeName"),
                   live=not meta.get("deletionTimestamp") and status.get("phase") not in ("Succeeded", "Failed"))


@dataclass(frozen=True)
class SelectedPod:
    namespace: str
    name: str
    uid: str
    node: str | None
    protected: bool
    workload_class: WorkloadClass


@dataclass(frozen=True)
class NodeReport:
    """One NodeSchedulerState: the operator's intent and the agent's report."""

    name: str
    spec: NodeSchedulerStateSpec
    status: NodeSchedulerStateStatus
    resource_version: str

    def profile(self, namespace: str, pod: str) -> PodProfile | None:
        pods = self.status.profiling.pods if self.status.profiling else []
        return next((p for p in pods if p.namespace == namespace and p.name == pod), None)


    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> NodeReport:
        return cls(name=obj["metadata"]["name"], spec=NodeSchedulerStateSpec.model_validate(obj.get("spec") or {}),
                   status=NodeSchedulerStateStatus.model_validate(obj.get("status") or {}),
                   resource_version=obj["metadata"]["resourceVersion"])


@dataclass
class Workload:
    objective: ObjectiveKind
    pods: list[SelectedPod]
    nodes: dict[str, NodeReport] = field(default_factory=dict)
    # What the selectors matched on their own, to say which one left `pods` empty.
    matched_pods: int = 0
    eligible_nodes: set[str] | None = None

    def hosts(self) -> list[str]:
        return sorted({p.node for p in self.pods if p.node})

    def kernels(self) -> list[KernelFacts]:
        """The kernels the pods' nodes run, as their agents report them."""
        return [kernel for host in self.hosts() if (node := self.nodes.get(host)) and (kernel := node.status.kernel)]

    def profile(self, pod: SelectedPod) -> PodProfile | None:
        report = self.nodes.get(pod.node or "")
        return report.profile(pod.namespace, pod.name) if report else None

    def metrics(self, *, protected: bool, on: set[str] | None = None) -> SchedulingMetrics | None:
        chosen = [self.profile(p) for p in self.pods if p.protected == protected and (on is None or p.node in on)]
        return aggregate([p.metrics for p in chosen if p is not None])

    def neighbours(self, namespace: str, *, on: set[str]) -> dict[str, SchedulingMetrics]:
        """Other namespaces' pods on `on`, as their agents measured them, per namespace: the
        canary answers to each neighbour for its own pods, not to an average that hides one."""
        measured: dict[str, list[SchedulingMetrics]] = {}
        for node in sorted(on):
            report = self.nodes.get(node)
            for pod in report.status.profiling.pods if report and report.status.profiling else []:
                if pod.namespace != namespace:
                    measured.setdefault(pod.namespace, []).append(pod.metrics)
        return {ns: total for ns, metrics in sorted(measured.items()) if (total := aggregate(metrics)) is not None}

    def pod_classes(self, node: str) -> list[PodClass]:
        return [PodClass(namespace=p.namespace, name=p.name, uid=p.uid, workload_class=p.workload_class)
                for p in self.pods if p.node == node]

    def design_profile(self, spec: SchedulerPolicySpec) -> tuple[WorkloadProfile, list[PodProfile]]:
        measured = [(p, self.profile(p)) for p in self.pods]
        mine = [m for p, m in measured if m is not None and p.protected]
        theirs = [m for p, m in measured if m is not None and not p.protected]
        profile = build_profile(spec.objective.kind, spec.goal, spec.objective.max_batch_loss_percent,
                                mine, theirs, len(self.hosts()))
        return profile, mine + theirs


def _workload_class(pod: PodFacts, protected: bool, objective: ObjectiveKind) -> WorkloadClass:
    if pod.optimize is not None and pod.optimize in WorkloadClass.__members__.values():
        return WorkloadClass(pod.optimize)
    return _CLASS_OF_OBJECTIVE[objective] if protected else WorkloadClass.BATCH


def observe_workload(world: World, namespace: str, spec: SchedulerPolicySpec) -> Workload:
    live = [p for p in world.pods(namespace) if p.live and selects(spec.pod_selector, p.labels)]
    eligible = world.nodes_labelled(spec.node_selector) if spec.node_selector else None
    protect = spec.objective.protect
    pods = []
    for pod in live:
        if eligible is not None and pod.node not in eligible:
            continue
        is_protected = protect is None or selects(protect, pod.labels)
        pods.append(SelectedPod(namespace=namespace, name=pod.name, uid=pod.uid, node=pod.node, protected=is_protected,
                                workload_class=_workload_class(pod, is_protected, spec.objective.kind)))
    return Workload(spec.objective.kind, pods, world.node_reports(), matched_pods=len(live), eligible_nodes=eligible)
