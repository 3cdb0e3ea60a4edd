"""What a lifecycle step reads of the cluster besides its own policy: pods, nodes' labels,
the NodeSchedulerStates, rival policies and the governance of namespaces.

The operator fills a World from its watch caches (indexes.py), so a step sends the API
server no read; `ApiWorld` asks the API server, for the design's process and for tests
that drive the Lifecycle without an operator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol, cast

from kubernetes import client

from schedcp import kube
from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp.api.v1alpha1.governance import SchedulingGovernanceSpec
from schedcp.api.v1alpha1.kinds import NODE_SCHEDULER_STATE, SCHEDULER_POLICY, SCHEDULING_GOVERNANCE
from schedcp_operator.conflicts import Rival
from schedcp_operator.governance import Rules, rules_for
from schedcp_operator.workload import NodeReport, PodFacts


class World(Protocol):
    def pods(self, namespace: str) -> list[PodFacts]: ...

    def nodes_labelled(self, labels: Mapping[str, str]) -> set[str]: ...

    def node_reports(self) -> dict[str, NodeReport]: ...

    def policy(self, namespace: str, name: str) -> Rival | None: ...

    def pods_on(self, node: str) -> list[PodFacts]: ...

    def rules(self, namespace: str) -> Rules | None: ...


class ApiWorld:
    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def pods(self, namespace: str) -> list[PodFacts]:
        reply: Any = self.core.list_namespaced_pod(namespace, _preload_content=False)  # raw: PodFacts reads the wire form
        return [PodFacts.of(item) for item in json.loads(reply.data)["items"]]

    def nodes_labelled(self, labels: Mapping[str, str]) -> set[str]:
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        return {kube.name(n) for n in self.core.list_node(label_selector=selector).items}

    def node_reports(self) -> dict[str, NodeReport]:
        listing = cast(dict[str, Any], self.custom.list_cluster_custom_object(GROUP, VERSION, NODE_SCHEDULER_STATE.plural))
        return {obj["metadata"]["name"]: NodeReport.of(obj) for obj in listing.get("items", [])}

    def policy(self, namespace: str, name: str) -> Rival | None:
        try:
            return Rival.of(cast(dict[str, Any], self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, SCHEDULER_POLICY.plural, name)))
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise

    def pods_on(self, node: str) -> list[PodFacts]:
        reply: Any = self.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}", _preload_content=False)
        return [PodFacts.of(item) for item in json.loads(reply.data)["items"]]

    def rules(self, namespace: str) -> Rules | None:
        listing = cast(dict[str, Any], self.custom.list_cluster_custom_object(GROUP, VERSION, SCHEDULING_GOVERNANCE.plural))
        found = {obj["metadata"]["name"]: SchedulingGovernanceSpec.model_validate(obj.get("spec") or {})
                 for obj in listing.get("items", [])}
        return rules_for(namespace, kube.metadata(self.core.read_namespace(namespace)).labels or {}, found)
