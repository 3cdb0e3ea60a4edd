"""The chart's RBAC, asked of the real RBAC authorizer by impersonating each service account:
the operator and the agent may do what their code calls, and nothing near it beyond."""

from __future__ import annotations

import pytest

from tests.chart.conftest import VALUES_FILES, install, uninstall

pytestmark = pytest.mark.cluster

HERE = "{release}"  # the release namespace
ELSEWHERE = "kube-system"
EVENTS = "default"

# (verb, resource, namespace or None for cluster scope, expected)
OPERATOR = [
    ("watch", "schedulerpolicies.schedcp.io", None, True),
    ("patch", "schedulerpolicies.schedcp.io", HERE, True),
    ("patch", "schedulerpolicies.schedcp.io/status", HERE, True),
    ("create", "schedulerpolicies.schedcp.io", HERE, True),
    ("delete", "schedulerpolicies.schedcp.io", HERE, False),
    ("create", "schedulerrevisions.schedcp.io", None, True),
    ("update", "schedulerrevisions.schedcp.io/status", None, True),
    ("patch", "nodeschedulerstates.schedcp.io", None, True),
    ("delete", "nodeschedulerstates.schedcp.io", None, True),
    ("patch", "nodeschedulerstates.schedcp.io/status", None, False),
    ("list", "schedulertemplates.schedcp.io", None, True),
    ("create", "schedulertemplates.schedcp.io", None, True),
    ("update", "schedulertemplates.schedcp.io/status", None, True),
    ("delete", "schedulertemplates.schedcp.io", None, False),
    ("list", "pods", None, True),
    ("watch", "nodes", None, True),
    ("watch", "namespaces", None, True),
    ("watch", "schedulinggovernances.schedcp.io", None, True),
    ("patch", "schedulinggovernances.schedcp.io", None, False),
    ("patch", "namespaces", None, False),
    ("patch", "nodes", None, False),
    ("patch", "pods", HERE, True),
    ("delete", "pods", HERE, False),
    ("create", "pods/exec", HERE, False),
    ("create", "events", HERE, True),
    ("create", "configmaps", HERE, True),
    ("delete", "configmaps", HERE, True),
    ("get", "configmaps", ELSEWHERE, False),
    ("create", "configmaps", ELSEWHERE, False),
    ("list", "secrets", HERE, False),
    ("get", "secrets/anthropic-api-key", HERE, False),
    ("list", "customresourcedefinitions.apiextensions.k8s.io", None, True),
    ("create", "customresourcedefinitions.apiextensions.k8s.io", None, False),
    ("create", "clusterkopfpeerings.kopf.dev", None, True),
    ("patch", "clusterkopfpeerings.kopf.dev/schedcp-operator", None, True),
    ("patch", "clusterkopfpeerings.kopf.dev/someone-else", None, False),
    ("create", "clusterroles.rbac.authorization.k8s.io", None, False),
    ("create", "serviceaccounts/token", HERE, False),
]

AGENT = [
    ("list", "pods", None, True),
    ("watch", "pods", None, True),
    ("create", "pods/exec", HERE, False),
    ("delete", "pods", HERE, False),
    ("get", "nodeschedulerstates.schedcp.io", None, True),
    ("create", "nodeschedulerstates.schedcp.io", None, True),
    ("patch", "nodeschedulerstates.schedcp.io", None, True),
    ("delete", "nodeschedulerstates.schedcp.io", None, False),
    ("patch", "nodeschedulerstates.schedcp.io/status", None, True),
    ("update", "nodeschedulerstates.schedcp.io/status", None, True),
    ("create", "schedulerpolicies.schedcp.io", HERE, False),
    ("patch", "schedulerpolicies.schedcp.io", HERE, False),
    ("patch", "schedulerrevisions.schedcp.io", None, False),
    ("create", "schedulertemplates.schedcp.io", None, False),
    ("get", "configmaps", HERE, True),
    ("list", "configmaps", HERE, False),
    ("create", "configmaps", HERE, False),
    ("get", "configmaps", ELSEWHERE, False),
    ("create", "leases.coordination.k8s.io", HERE, True),
    ("patch", "leases.coordination.k8s.io", HERE, True),
    ("get", "leases.coordination.k8s.io", HERE, False),
    ("update", "leases.coordination.k8s.io", HERE, False),
    ("delete", "leases.coordination.k8s.io", HERE, False),
    ("patch", "leases.coordination.k8s.io", ELSEWHERE, False),
    ("create", "events", EVENTS, True),
    ("create", "events", ELSEWHERE, False),
    ("list", "secrets", HERE, False),
    ("get", "secrets/anthropic-api-key", HERE, False),
    ("patch", "nodes", None, False),
    ("create", "clusterkopfpeerings.kopf.dev", None, False),
]


def _can(cluster, user: str, verb: str, resource: str, namespace: str | None) -> bool:
    resource, _, subresource = resource.partition("/")
    args = ["auth", "can-i", verb, resource, f"--as={user}"]
    if subresource in ("status", "exec", "token"):
        args.append(f"--subresource={subresource}")
    elif subresource:  # a resource name
        args[3] = f"{resource}/{subresource}"
    args += ["-n", namespace] if namespace else ["--all-namespaces"] if resource in ("pods", "nodes") else []
    answer = cluster.kubectl(*args, check=False).stdout.strip()
    assert answer in ("yes", "no"), answer
    return answer == "yes"


def _check(cluster, installed, component: str, table: list) -> None:
    user = installed.service_account(component)
    wrong = []
    for verb, resource, namespace, expected in table:
        where = installed.namespace if namespace == HERE else namespace
        if _can(cluster, user, verb, resource, where) != expected:
            wrong.append(f"{verb} {resource} in {where or 'cluster'}: expected {'yes' if expected else 'no'}")
    assert not wrong, f"{component}:\n" + "\n".join(wrong)


def test_operator_may_do_what_it_needs_and_no_more(kube_cluster, installed) -> None:
    _check(kube_cluster, installed, "operator", OPERATOR)


def test_node_agent_may_do_what_it_needs_and_no_more(kube_cluster, installed) -> None:
    _check(kube_cluster, installed, "node-agent", AGENT)


def test_operator_reads_the_key_secret_by_name_only_when_asked(kube_cluster, helm, namespace, tmp_path) -> None:
    release = install(kube_cluster, helm, namespace, VALUES_FILES["monitoring-claude"], tmp_path)
    try:
        user = release.service_account("operator")
        assert _can(kube_cluster, user, "get", "secrets/anthropic-api-key", namespace)
        assert not _can(kube_cluster, user, "get", "secrets/other", namespace)
        assert not _can(kube_cluster, user, "list", "secrets", namespace)
        assert not _can(kube_cluster, user, "watch", "secrets", namespace)
    finally:
        uninstall(kube_cluster, release)
