"""What a tenant's SchedulerPolicy may say is decided by the API server: the chart's
ValidatingAdmissionPolicy with every SchedulingGovernance as a parameter, and its
MutatingAdmissionPolicy that records who approved a revision.

Two tenants are two users, each allowed by RBAC to write policies in its own namespace
only; requests impersonate them, so authentication aside, everything is the real path.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from schedcp.api.v1alpha1.governance import NAMESPACE_LABEL
from schedcp_cli.components import wait_until

pytestmark = pytest.mark.cluster

GROUP, VERSION, PLURAL = "schedcp.io", "v1alpha1", "schedulerpolicies"
EDITOR_RULES = [{"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["get", "list", "create", "update", "patch"]}]


def _policy(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "SchedulerPolicy", "metadata": {"name": name},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "objective": {"kind": "latency"}, **spec}}


class Tenant:
    """A user who may edit SchedulerPolicies in one namespace, through the API server's impersonation."""

    def __init__(self, kube_cluster, user: str, namespace: str) -> None:
        self.user, self.namespace = user, namespace
        api = kube_cluster.api_client()
        api.set_default_header("Impersonate-User", user)
        self.custom = client.CustomObjectsApi(api)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def patch(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name, patch)

    def refusal(self, call: Callable[[], Any]) -> str:
        try:
            call()
        except client.ApiException as error:
            assert error.status in (403, 422), error
            return str(error.body)
        raise AssertionError(f"{self.user}'s request was admitted")


@pytest.fixture
def tenants(kube_cluster, installed) -> Iterator[tuple[Tenant, Tenant, str]]:
    """Tenant A under the chart's default governance; tenant B in a namespace an admin moved
    to a governance of its own that allows Auto up to priority 500."""
    suffix = uuid.uuid4().hex[:6]
    trusted = f"trusted-{suffix}"
    core, custom = client.CoreV1Api(kube_cluster.api_client()), client.CustomObjectsApi(kube_cluster.api_client())
    rbac = client.RbacAuthorizationV1Api(kube_cluster.api_client())
    made = []
    for user, labels in ((f"alice-{suffix}", {}), (f"bob-{suffix}", {NAMESPACE_LABEL: trusted})):
        namespace = f"t-{user}"
        core.create_namespace({"metadata": {"name": namespace, "labels": labels}})
        rbac.create_namespaced_role(namespace, {"metadata": {"name": "policy-editor"}, "rules": EDITOR_RULES})
        rbac.create_namespaced_role_binding(namespace, {
            "metadata": {"name": "policy-editor"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "policy-editor"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]})
        made.append(Tenant(kube_cluster, user, namespace))
    custom.create_cluster_custom_object(GROUP, VERSION, "schedulinggovernances", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "SchedulingGovernance", "metadata": {"name": trusted},
        "spec": {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: trusted}}, "allowAuto": True,
                 "maxPriority": 500}})
    alice, bob = made
    # A new admission policy and its parameters reach the plugin asynchronously.
    wait_until(lambda: _refused(lambda: alice.create(_policy(f"probe-{uuid.uuid4().hex[:6]}", mode="Auto"))),
               30, "the governance admission policy to be enforced")
    yield alice, bob, trusted
    custom.delete_cluster_custom_object(GROUP, VERSION, "schedulinggovernances", trusted)
    for tenant in made:
        core.delete_namespace(tenant.namespace)


def _refused(call: Callable[[], Any]) -> bool:
    try:
        call()
    except client.ApiException:
        return True
    return False


def test_a_tenant_may_not_set_auto_or_a_priority_above_its_cap(tenants, installed) -> None:
    alice, _, _ = tenants
    governance = installed.named("SchedulingGovernance", "default")["metadata"]["name"]
    auto = alice.refusal(lambda: alice.create(_policy("web", mode="Auto")))
    assert "rule allowAuto" in auto and f"SchedulingGovernance {governance}" in auto and alice.namespace in auto
    high = alice.refusal(lambda: alice.create(_policy("web", priority=1000)))
    assert "rule maxPriority: spec.priority 1000 is above the cap 100" in high and governance in high
    designer = alice.refusal(lambda: alice.create(_policy("web", designer={"kind": "claude"})))
    assert "rule designers" in designer
    budget = alice.refusal(lambda: alice.create(_policy("web", designer={"budget": {"maxCostUsd": "5"}})))
    assert "rule budget" in budget
    alice.create(_policy("web", priority=100))  # within every rule
    raised = alice.refusal(lambda: alice.patch("web", {"spec": {"mode": "Auto"}}))
    assert "rule allowAuto" in raised


def test_a_governance_an_admin_gave_a_namespace_sets_its_own_caps(tenants) -> None:
    _, bob, trusted = tenants
    bob.create(_policy("web", mode="Auto", priority=500))
    refused = bob.refusal(lambda: bob.create(_policy("batch", mode="Auto", priority=501)))
    assert "rule maxPriority" in refused and f"SchedulingGovernance {trusted}" in refused


def test_the_api_server_records_who_approved_a_revision_and_no_one_forges_it(tenants) -> None:
    alice, _, _ = tenants
    alice.create(_policy("web"))
    approved = alice.patch("web", {"spec": {"approvedRevision": "web-0123"}})
    assert approved["metadata"]["annotations"]["schedcp.io/approved-by"] == alice.user
    forged = alice.refusal(lambda: alice.patch("web", {"metadata": {"annotations": {"schedcp.io/approved-by": "admin"}}}))
    assert "written by the API server" in forged
