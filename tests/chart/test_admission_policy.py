"""Each node agent may write only its own node's NodeSchedulerState: the chart's
ValidatingAdmissionPolicy, enforced by the real API server.

A pod's service-account token makes the API server put the pod's node in the user's extra
(`authentication.kubernetes.io/node-name`). No kubelet runs here to mint such a token, so the
requests impersonate the agent's service account with that extra, which is exactly the user
the authenticator would produce; everything after authentication is the real path.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest
from kubernetes import client

from schedcp.api.v1alpha1.nodestate import NodeSchedulerStateStatus
from schedcp_cli.components import wait_until
from schedcp_node_agent.lease import NodeLease
from schedcp_node_agent.node_state import NodeStateClient

pytestmark = pytest.mark.cluster

NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name"
GROUP, VERSION, PLURAL = "schedcp.io", "v1alpha1", "nodeschedulerstates"


def _as_agent(kube_cluster, installed, node: str | None) -> client.ApiClient:
    """An API client whose every request is the agent's service account on `node`."""
    api = kube_cluster.api_client()
    api.set_default_header("Impersonate-User", installed.service_account("node-agent"))
    if node is not None:
        api.set_default_header(f"Impersonate-Extra-{quote(NODE_NAME_EXTRA, safe='')}", node)
    return api


def _refusal(call) -> client.ApiException | None:
    try:
        call()
    except client.ApiException as error:
        return error
    return None


def _unique_nodes() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:6]
    return f"node-a-{suffix}", f"node-b-{suffix}"


def _policy_active(kube_cluster, installed) -> None:
    """A new policy reaches the admission plugin asynchronously: wait until it refuses."""
    _, other = _unique_nodes()
    stranger = NodeStateClient(_as_agent(kube_cluster, installed, "no-such-node"), other)
    wait_until(lambda: _refusal(stranger.ensure_exists) is not None, 30, "the admission policy to be enforced")


def test_agent_writes_its_own_node_state_through_its_real_client(kube_cluster, installed) -> None:
    _policy_active(kube_cluster, installed)
    node, _ = _unique_nodes()
    agent = NodeStateClient(_as_agent(kube_cluster, installed, node), node)
    agent.ensure_exists()
    agent.write_status(NodeSchedulerStateStatus(agent_version="test"))
    stored = client.CustomObjectsApi(kube_cluster.api_client()).get_cluster_custom_object(GROUP, VERSION, PLURAL, node)
    assert stored["status"]["agentVersion"] == "test"


def test_agent_may_not_write_another_nodes_state(kube_cluster, installed) -> None:
    _policy_active(kube_cluster, installed)
    mine, theirs = _unique_nodes()
    NodeStateClient(kube_cluster.api_client(), theirs).ensure_exists()  # as the cluster admin
    intruder = NodeStateClient(_as_agent(kube_cluster, installed, mine), theirs)
    for write in (intruder.ensure_exists, lambda: intruder.write_status(NodeSchedulerStateStatus(agent_version="x"))):
        refused = _refusal(write)
        assert refused is not None and refused.status == 403, refused
        assert f"node agent on node {mine} may write only NodeSchedulerState {mine}, not {theirs}" in refused.body
    # A create of a node that has no object yet is refused the same way.
    unborn = NodeStateClient(_as_agent(kube_cluster, installed, mine), f"{theirs}-new")
    assert _refusal(unborn.ensure_exists).status == 403


def test_agent_request_without_a_node_name_is_refused(kube_cluster, installed) -> None:
    _policy_active(kube_cluster, installed)
    node, _ = _unique_nodes()
    refused = _refusal(NodeStateClient(_as_agent(kube_cluster, installed, None), node).ensure_exists)
    assert refused is not None and refused.status == 403
    assert "carries no node name" in refused.body


def test_agent_may_not_change_the_operators_spec_on_its_own_node(kube_cluster, installed) -> None:
    _policy_active(kube_cluster, installed)
    node, _ = _unique_nodes()
    NodeStateClient(_as_agent(kube_cluster, installed, node), node).ensure_exists()
    desired = {"spec": {"desiredRevision": {"name": "rev-1", "sha256": "a" * 64}}}
    custom = client.CustomObjectsApi(_as_agent(kube_cluster, installed, node))
    refused = _refusal(lambda: custom.patch_cluster_custom_object(GROUP, VERSION, PLURAL, node, desired))
    assert refused is not None and refused.status == 403
    assert "may not set or change a NodeSchedulerState's spec" in refused.body
    # The operator (not matched by the policy) sets it; the agent's next apply keeps it.
    operator = client.CustomObjectsApi(kube_cluster.api_client())
    operator.api_client.set_default_header("Impersonate-User", installed.service_account("operator"))
    operator.patch_cluster_custom_object(GROUP, VERSION, PLURAL, node, desired)
    NodeStateClient(_as_agent(kube_cluster, installed, node), node).ensure_exists()
    stored = client.CustomObjectsApi(kube_cluster.api_client()).get_cluster_custom_object(GROUP, VERSION, PLURAL, node)
    assert stored["spec"]["desiredRevision"]["name"] == "rev-1"


def test_kubectl_impersonation_shows_the_policys_message(kube_cluster, installed, tmp_path) -> None:
    _policy_active(kube_cluster, installed)
    mine, theirs = _unique_nodes()
    manifest = tmp_path / "nss.yaml"
    manifest.write_text(f"apiVersion: {GROUP}/{VERSION}\nkind: NodeSchedulerState\nmetadata:\n  name: {theirs}\n")
    impersonate = [f"--as={installed.service_account('node-agent')}", f"--as-user-extra={NODE_NAME_EXTRA}={mine}"]
    refused = kube_cluster.kubectl("apply", "--server-side", "-f", str(manifest), *impersonate, check=False)
    assert refused.returncode != 0
    assert "ValidatingAdmissionPolicy" in refused.stderr and f"not {theirs}" in refused.stderr
    manifest.write_text(manifest.read_text().replace(theirs, mine))
    kube_cluster.kubectl("apply", "--server-side", "-f", str(manifest), *impersonate)


def test_agent_renews_only_its_own_nodes_lease(kube_cluster, installed) -> None:
    _policy_active(kube_cluster, installed)
    mine, theirs = _unique_nodes()
    NodeLease(_as_agent(kube_cluster, installed, mine), mine, installed.namespace, 10).renew()
    NodeLease(_as_agent(kube_cluster, installed, mine), mine, installed.namespace, 10).renew()
    stored = client.CoordinationV1Api(kube_cluster.api_client()).read_namespaced_lease(mine, installed.namespace)
    assert stored.spec.holder_identity == mine
    refused = _refusal(NodeLease(_as_agent(kube_cluster, installed, mine), theirs, installed.namespace, 10).renew)
    assert refused is not None and refused.status == 403, refused
    assert f"node agent on node {mine} may write only Lease {mine}, not {theirs}" in refused.body
