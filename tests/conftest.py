"""Session-wide fixtures: one real control plane for every test that needs the API server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from schedcp.api.v1alpha1 import GROUP, SCHEDULER_TEMPLATE, VERSION
from schedcp_cli.components import wait_until
from schedcp_cli.devcluster.cluster import DevCluster
from tests.api_link import ApiLink
from tests.messages_api.server import MessagesServer, start_messages_server

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    cluster = DevCluster(tmp_path_factory.mktemp("control-plane"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _fresh_namespace(kube_cluster: DevCluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube_cluster.kubectl("create", "namespace", name)
    # Pods are admitted only once the controller manager has made the default ServiceAccount.
    wait_until(
        lambda: kube_cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0,
        30, f"ServiceAccount {name}/default",
    )
    yield name
    # Most tests' pods are bound to nodes without a kubelet to confirm them gone: removed
    # gracefully they would hold the namespace in Terminating, and the namespace controller
    # would list its kinds again and again, in every later test's API measurements.
    kube_cluster.kubectl("delete", "pods", "--all", "-n", name, "--grace-period=0", "--force", "--wait=false",
                         check=False)
    kube_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
    _forget_outcomes(kube_cluster, name)


def _forget_outcomes(kube_cluster: DevCluster, namespace: str) -> None:
    """What the namespace's policies taught the (cluster-wide) repository goes with it: a later
    test's design must not avoid a template because an earlier test's canary regressed."""
    custom = client.CustomObjectsApi(kube_cluster.api_client())
    try:
        templates = custom.list_cluster_custom_object(GROUP, VERSION, SCHEDULER_TEMPLATE.plural)["items"]
    except client.ApiException:
        return  # no CRDs in this session
    for obj in templates:
        name = obj["metadata"]["name"]
        try:
            if ((obj["spec"].get("provenance") or {}).get("policy") or {}).get("namespace") == namespace:
                custom.delete_cluster_custom_object(GROUP, VERSION, SCHEDULER_TEMPLATE.plural, name)
                continue
            history = (obj.get("status") or {}).get("history") or []
            kept = [h for h in history if (h.get("policy") or {}).get("namespace") != namespace]
            if len(kept) != len(history):
                obj["status"]["history"] = kept
                custom.replace_cluster_custom_object_status(GROUP, VERSION, SCHEDULER_TEMPLATE.plural, name, obj)
        except client.ApiException as error:
            if error.status not in (404, 409):  # gone, or another test's operator wrote it meanwhile
                raise


@pytest.fixture
def namespace(kube_cluster: DevCluster) -> Iterator[str]:
    yield from _fresh_namespace(kube_cluster)


@pytest.fixture
def neighbour_namespace(kube_cluster: DevCluster) -> Iterator[str]:
    """A second tenant's namespace, for tests of what one namespace's policy does to another's pods."""
    yield from _fresh_namespace(kube_cluster)


@pytest.fixture(scope="session")
def crds_installed(kube_cluster: DevCluster) -> None:
    kube_cluster.kubectl("apply", "-f", str(REPO / "crds"))
    kube_cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")


@pytest.fixture
def messages_api() -> Iterator[MessagesServer]:
    """A scripted Messages API on 127.0.0.1 for the real anthropic SDK (tests call assert_done)."""
    with start_messages_server() as server:
        yield server


@pytest.fixture
def api_link(kube_cluster: DevCluster, tmp_path: Path) -> Iterator[ApiLink]:
    """A link to the API server the test can cut, for clients that must live through an outage."""
    link = ApiLink(kube_cluster.info.server, kube_cluster.kubeconfig, tmp_path)  # type: ignore[union-attr]
    yield link
    link.cut()
