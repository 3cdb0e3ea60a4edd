"""Read the selected pods' profiles from the cluster: pods from the API, their
measurements from the NodeSchedulerStates the node agents keep current."""

from __future__ import annotations

from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp.api.v1alpha1.kinds import NODE_SCHEDULER_STATE
from schedcp.api.v1alpha1.nodestate import NodeSchedulerStateStatus, PodProfile
from schedcp.api.v1alpha1.policy import ObjectiveKind

from schedcp_operator.design.observe import build_profile
from schedcp_operator.design.profile import WorkloadProfile


def label_selector(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def node_profiles(api: client.ApiClient) -> dict[tuple[str, str], tuple[str, PodProfile]]:
    """(namespace, pod) -> (node, profile) over every node's status."""
    found = {}
    states = client.CustomObjectsApi(api).list_cluster_custom_object(GROUP, VERSION, NODE_SCHEDULER_STATE.plural)
    for state in states.get("items", []):
        status = NodeSchedulerStateStatus.model_validate(state.get("status") or {})
        for pod in status.profiling.pods if status.profiling else []:
            found[(pod.namespace, pod.name)] = (state["metadata"]["name"], pod)
    return found


def profile_from_cluster(api: client.ApiClient, namespace: str, select: dict[str, str], protect: dict[str, str],
                         objective: ObjectiveKind, goal: str, max_batch_loss_percent: int = 10) -> WorkloadProfile:
    core = client.CoreV1Api(api)
    selected = core.list_namespaced_pod(namespace, label_selector=label_selector(select)).items
    protected_names = {p.metadata.name for p in core.list_namespaced_pod(
        namespace, label_selector=label_selector({**select, **protect})).items} if protect else {p.metadata.name for p in selected}
    measured = node_profiles(api)
    mine, theirs, nodes = [], [], set()
    for pod in selected:
        node, profile = measured.get((namespace, pod.metadata.name), (None, None))
        if profile is None:
            continue
        nodes.add(node)
        (mine if pod.metadata.name in protected_names else theirs).append(profile)
    return build_profile(objective, goal, max_batch_loss_percent, mine, theirs, len(nodes))
