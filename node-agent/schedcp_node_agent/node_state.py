"""This node's `NodeSchedulerState` in the API, and the Events the agent posts about it.

Status goes in by server-side apply under a field manager named after the node: a
field the agent stops reporting disappears (a merge patch would leave it stale), the
operator's spec is never overwritten, and `managedFields` shows which agent wrote what.
"""

from __future__ import annotations

import logging
from typing import Any

from kubernetes import client

from schedcp.api.v1alpha1.base import API_VERSION, GROUP, VERSION, now
from schedcp.api.v1alpha1.kinds import NODE_SCHEDULER_STATE
from schedcp.api.v1alpha1.nodestate import NodeSchedulerStateSpec, NodeSchedulerStateStatus
from schedcp.naming import fit, label_value
from schedcp.transport import API_ERRORS, REQUEST_TIMEOUT, RequestTimeout, describe
from schedcp_node_agent.applier import Notice
from schedcp_node_agent.reflector import Reflector

log = logging.getLogger("schedcp.agent.state")

APPLY = "application/apply-patch+yaml"
EVENT_NAMESPACE = "default"  # where Events about cluster-scoped objects live
COMPONENT = "schedcp-node-agent"
NODE_LABEL = "schedcp.io/node"
FIELD_MANAGER_MAX = 128


def field_manager(node: str) -> str:
    return fit(f"{COMPONENT}/{node}", FIELD_MANAGER_MAX)


class NodeStateClient:
    def __init__(self, api: client.ApiClient, node: str, *, timeout: RequestTimeout = REQUEST_TIMEOUT) -> None:
        self.api = api
        self.node = node
        self.timeout = timeout
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.reflector = Reflector(
            api, self.custom.list_cluster_custom_object, f"nss-{node}",
            group=GROUP, version=VERSION, plural=NODE_SCHEDULER_STATE.plural,
            field_selector=f"metadata.name={node}", timeout=timeout,
        )

    def ensure_exists(self) -> None:
        """Create the object if missing; an existing one (and its spec) is left as it is."""
        body = {"apiVersion": API_VERSION, "kind": NODE_SCHEDULER_STATE.kind,
                "metadata": {"name": self.node, "labels": {NODE_LABEL: label_value(self.node)}}}
        self.custom.patch_cluster_custom_object(
            GROUP, VERSION, NODE_SCHEDULER_STATE.plural, self.node, body,
            field_manager=field_manager(self.node), _content_type=APPLY, _request_timeout=self.timeout,
        )

    def spec(self) -> tuple[NodeSchedulerStateSpec, int | None]:
        """The desired state and its generation, from the watch cache."""
        for obj in self.reflector.objects():
            return NodeSchedulerStateSpec.model_validate(obj.get("spec") or {}), obj["metadata"].get("generation")
        return NodeSchedulerStateSpec(), None

    def write_status(self, status: NodeSchedulerStateStatus) -> None:
        body = {"apiVersion": API_VERSION, "kind": NODE_SCHEDULER_STATE.kind,
                "metadata": {"name": self.node}, "status": status.to_wire()}
        self.custom.patch_cluster_custom_object_status(
            GROUP, VERSION, NODE_SCHEDULER_STATE.plural, self.node, body,
            field_manager=field_manager(self.node), force=True, _content_type=APPLY,
            _request_timeout=self.timeout,
        )

    def post(self, notice: Notice) -> None:
        stamp = now()
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{self.node}.", namespace=EVENT_NAMESPACE),
            involved_object=client.V1ObjectReference(
                api_version=API_VERSION, kind=NODE_SCHEDULER_STATE.kind, name=self.node
            ),
            type=notice.type, reason=notice.reason, message=notice.message[:1024],
            first_timestamp=stamp, last_timestamp=stamp, count=1,
            source=client.V1EventSource(component=COMPONENT, host=self.node),
            reporting_component=COMPONENT, reporting_instance=self.node,
        )
        try:
            self.core.create_namespaced_event(EVENT_NAMESPACE, event, _request_timeout=self.timeout)
        except API_ERRORS as error:  # an Event is best effort; status carries the truth
            log.warning("could not post event %s: %s", notice.reason, describe(error))


def pod_reflector(api: client.ApiClient, node: str) -> Reflector:
    return Reflector(api, client.CoreV1Api(api).list_pod_for_all_namespaces, f"pods-{node}",
                     field_selector=f"spec.nodeName={node}")


def pods_of(reflector: Reflector) -> list[dict[str, Any]]:
    return [p for p in reflector.objects() if (p.get("status") or {}).get("phase") in ("Running", "Pending", None)]
