"""A policy's workload as the cluster shows it: the pods it selects, the nodes they run on,
and what each node's agent measured of them (read from the NodeSchedulerStates)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from kubernetes import client

from schedcp import kube
from schedcp.api.v1alpha1.base import GROUP, VERSION, LabelSelector, SchedulingMetrics, SelectorOperator
from schedcp.api.v1alpha1.kinds import NODE_SCHEDULER_STATE
from schedcp.api.v1alpha1.nodestate import (
    NodeSchedulerStateSpec,
    NodeSchedulerStateStatus,
    PodClass,
    PodProfile,
    WorkloadClass,
)
from schedcp.api.v1alpha1.policy import ObjectiveKind, SchedulerPolicySpec
from schedcp_operator.design.observe import aggregate, build_profile
from schedcp_operator.design.profile import WorkloadProfile
from schedcp_operator.semantics import merged

OPTIMIZE_ANNOTATION = "schedcp.io/optimize"
_CLASS_OF_OBJECTIVE = {ObjectiveKind.LATENCY: WorkloadClass.LATENCY, ObjectiveKind.THROUGHPUT: WorkloadClass.THROUGHPUT,
                       ObjectiveKind.MAKESPAN: WorkloadClass.BATCH, ObjectiveKind.BALANCED: WorkloadClass.THROUGHPUT}


def selector_string(selector: LabelSelector) -> str:
    """metav1.LabelSelector in the `labelSelector` query syntax."""
    terms = [f"{key}={value}" for key, value in sorted(selector.match_labels.items())]
    for req in selector.match_expressions:
        if req.operator in (SelectorOperator.IN, SelectorOperator.NOT_IN):
            terms.append(f"{req.key} {req.operator.lower()} ({','.join(sorted(req.values))})")
        elif req.operator == SelectorOperator.EXISTS:
            terms.append(req.key)
        else:
            terms.append(f"!{req.key}")
    return ",".join(terms)


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


def node_reports(api: client.ApiClient) -> dict[str, NodeReport]:
    listing = cast(dict[str, Any],
                   client.CustomObjectsApi(api).list_cluster_custom_object(GROUP, VERSION, NODE_SCHEDULER_STATE.plural))
    return {
        obj["metadata"]["name"]: NodeReport(
            name=obj["metadata"]["name"],
            spec=NodeSchedulerStateSpec.model_validate(obj.get("spec") or {}),
            status=NodeSchedulerStateStatus.model_validate(obj.get("status") or {}),
            resource_version=obj["metadata"]["resourceVersion"],
        )
        for obj in listing.get("items", [])
    }


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

    def profile(self, pod: SelectedPod) -> PodProfile | None:
        report = self.nodes.get(pod.node or "")
        return report.profile(pod.namespace, pod.name) if report else None

    def metrics(self, *, protected: bool, on: set[str] | None = None) -> SchedulingMetrics | None:
        chosen = [self.profile(p) for p in self.pods if p.protected == protected and (on is None or p.node in on)]
        return aggregate([p.metrics for p in chosen if p is not None])

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


def _eligible_nodes(core: client.CoreV1Api, node_selector: dict[str, str]) -> set[str] | None:
    if not node_selector:
        return None
    selector = ",".join(f"{k}={v}" for k, v in sorted(node_selector.items()))
    return {kube.name(n) for n in core.list_node(label_selector=selector).items}


def _workload_class(pod: client.V1Pod, protected: bool, objective: ObjectiveKind) -> WorkloadClass:
    asked = (kube.metadata(pod).annotations or {}).get(OPTIMIZE_ANNOTATION)
    if asked is not None and asked in WorkloadClass.__members__.values():
        return WorkloadClass(asked)
    return _CLASS_OF_OBJECTIVE[objective] if protected else WorkloadClass.BATCH


def observe_workload(api: client.ApiClient, namespace: str, spec: SchedulerPolicySpec) -> Workload:
    core = client.CoreV1Api(api)
    selected = core.list_namespaced_pod(namespace, label_selector=selector_string(spec.pod_selector)).items
    protect = spec.objective.protect
    protected = {kube.uid(p) for p in core.list_namespaced_pod(
        namespace, label_selector=selector_string(merged(spec.pod_selector, protect))).items} if protect else None
    eligible = _eligible_nodes(core, spec.node_selector)
    live = [p for p in selected
            if not kube.metadata(p).deletion_timestamp and not (p.status and p.status.phase in ("Succeeded", "Failed"))]
    pods = []
    for pod in live:
        node = pod.spec.node_name if pod.spec else None
        if eligible is not None and node not in eligible:
            continue
        is_protected = protected is None or kube.uid(pod) in protected
        pods.append(SelectedPod(namespace=namespace, name=kube.name(pod), uid=kube.uid(pod), node=node,
                                protected=is_protected,
                                workload_class=_workload_class(pod, is_protected, spec.objective.kind)))
    return Workload(spec.objective.kind, pods, node_reports(api), matched_pods=len(live), eligible_nodes=eligible)
