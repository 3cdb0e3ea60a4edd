"""The node's Lease: the agent's liveness, renewed every status interval.

Like the kubelet's node leases in kube-node-lease: a coordination.k8s.io/v1 Lease named
after the node, in the agent's namespace. A renewal is one small write that nothing in
the operator watches, so liveness costs the operator nothing; the status is written only
when it says something new (status_gate.py). Server-side apply creates the Lease on the
first renewal, so the agent needs create and patch on Leases and nothing else.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from kubernetes import client

from schedcp.transport import REQUEST_TIMEOUT
from schedcp_node_agent.node_state import APPLY, field_manager

# A holder that has missed this many renewals is presumed gone (the kubelet's 10 s / 40 s).
MISSED_RENEWALS = 4


def lease_body(node: str, namespace: str, interval_seconds: float, renewed: datetime) -> dict[str, object]:
    return {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": node, "namespace": namespace},
        "spec": {"holderIdentity": node, "leaseDurationSeconds": math.ceil(MISSED_RENEWALS * interval_seconds),
                 "renewTime": renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
    }


class NodeLease:
    def __init__(self, api: client.ApiClient, node: str, namespace: str, interval_seconds: float) -> None:
        self.coordination = client.CoordinationV1Api(api)
        self.node, self.namespace, self.interval_seconds = node, namespace, interval_seconds

    def renew(self) -> None:
        body = lease_body(self.node, self.namespace, self.interval_seconds, datetime.now(UTC))
        self.coordination.patch_namespaced_lease(self.node, self.namespace, body, field_manager=field_manager(self.node),
                                                 force=True, _content_type=APPLY, _request_timeout=REQUEST_TIMEOUT)
