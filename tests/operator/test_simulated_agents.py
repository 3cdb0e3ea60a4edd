"""The simulated agents the rollout tests and the control-plane benchmark stand on live
through an API server outage, as real agents do, instead of silently thinning the fleet."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import pytest
from kubernetes import client

from benchmarks.fleet import Fleet
from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp_cli.components import wait_until
from tests.operator.simulated_nodes import PLURAL, SimulatedNode

pytestmark = pytest.mark.cluster


def heartbeat(api: client.ApiClient, node: str) -> str | None:
    obj = client.CustomObjectsApi(api).get_cluster_custom_object(GROUP, VERSION, PLURAL, node)
    return (obj.get("status") or {}).get("heartbeatTime")


def lease_renewal(namespace: str, api: client.ApiClient, node: str) -> str | None:
    try:
        lease = client.CoordinationV1Api(api).read_namespaced_lease(node, namespace)
    except client.ApiException:
        return None
    renewed = lease.spec.renew_time
    return renewed.isoformat() if renewed else None


def live_through_an_outage(api: client.ApiClient, link, nodes: list[str], caplog: pytest.LogCaptureFixture,
                           alive: Callable[[client.ApiClient, str], str | None] = heartbeat) -> None:
    """`alive`: the node's latest sign of life (a status heartbeat, or a Lease renewal)."""
    before = {n: wait_until(lambda n=n: alive(api, n), 30, f"a heartbeat of {n}") for n in nodes}
    with caplog.at_level(logging.WARNING):
        link.cut()
        wait_until(lambda: "API server unreachable" in caplog.text, 30, "the outage logged", lambda: caplog.text)
    link.restore()
    for n in nodes:
        wait_until(lambda n=n: alive(api, n) not in (None, before[n]), 30, f"a heartbeat of {n} after the outage")


def test_a_simulated_node_reports_again_after_an_api_outage(kube_cluster, crds_installed, api_link, namespace,
                                                             caplog) -> None:
    node = SimulatedNode(api_link.api_client(), f"{namespace}-n0")
    try:
        live_through_an_outage(kube_cluster.api_client(), api_link, [node.name], caplog)
    finally:
        node.close()


def test_the_fleet_reports_again_after_an_api_outage(kube_cluster, crds_installed, api_link, namespace, caplog) -> None:
    fleet = Fleet(api_link.api_client(), namespace, count=2, period=0.5)
    api = kube_cluster.api_client()
    try:
        # The fleet's nodes write their status only with news, as agents do; their liveness is the Lease.
        live_through_an_outage(api, api_link, list(fleet.nodes), caplog, partial(lease_renewal, namespace))
    finally:
        fleet.close()
        for name in fleet.nodes:
            client.CustomObjectsApi(api).delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
            client.CoreV1Api(api).delete_node(name)
