"""With the operator running and nothing changing, its reads do not grow with the number
of policies: steps read the operator's watch caches, not the API server.

Reads are the API server's own request counters (GET and LIST of what a step would read),
over a quiet window with one policy, then with five. The policies select no pod, so
they stay in Profiling, where a step reads pods and nodes' states each time.
"""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from benchmarks.request_counters import reads, served
from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp_cli.components import wait_until
from tests.operator.test_rollout import PLURAL, Scene, policy_body

pytestmark = pytest.mark.cluster

QUIET_SECONDS = 12.0
SETTLE_SECONDS = 60.0
# Pods bound to nodes without a kubelet go when the pod garbage collector removes them.
TERMINATING_SECONDS = 300.0
STEP_RESOURCES = {"schedulerpolicies", "pods", "nodes", "nodeschedulerstates"}


def namespaces_settled(api: client.ApiClient) -> bool:
    """No namespace of an earlier test is being deleted: the namespace controller lists
    every namespaced kind (pods, policies) of one again and again while it waits for pods
    that no kubelet confirms gone, and the counters cannot tell its reads from ours."""
    return not any(ns.status.phase == "Terminating" for ns in client.CoreV1Api(api).list_namespace().items)


def quiet_reads(api: client.ApiClient) -> int:
    """Reads over the quiet window, once a short one has shown none: the operator's
    start-up lists (one per watched kind) and a new policy's first steps are over. An
    operator that polls never shows a read-free window, and is measured after a minute."""
    wait_until(lambda: namespaces_settled(api), TERMINATING_SECONDS, "earlier tests' namespaces to be deleted")
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        before = served(api)
        time.sleep(2)
        if reads(before, served(api), STEP_RESOURCES) == 0:
            break
    before = served(api)
    time.sleep(QUIET_SECONDS)
    return reads(before, served(api), STEP_RESOURCES)


def test_an_idle_operator_reads_nothing_per_policy(kube_cluster, namespace, crds_installed, start_operator) -> None:
    scene = Scene(kube_cluster, namespace)
    custom = client.CustomObjectsApi(scene.api)
    op = start_operator("--standalone", "--artifacts-namespace", namespace)
    selecting_nothing = {"podSelector": {"matchLabels": {"app": "absent"}}, "objective": {"kind": "latency"}}
    scene.apply(policy_body("p0", **selecting_nothing))
    scene.wait_condition("p0", "Accepted", op, status="False")
    one = quiet_reads(scene.api)
    for i in range(1, 5):
        scene.apply(policy_body(f"p{i}", **selecting_nothing))
    for i in range(1, 5):
        scene.wait_condition(f"p{i}", "Accepted", op, status="False")
    five = quiet_reads(scene.api)
    # A few reads may come from elsewhere (the controller manager); per policy per step
    # would be four each second or two.
    assert one <= 3 and five <= 3, f"reads in {QUIET_SECONDS:.0f} s: {one} with one policy, {five} with five"
    assert all(custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, f"p{i}")["status"]["phase"]
               == "Profiling" for i in range(5))
