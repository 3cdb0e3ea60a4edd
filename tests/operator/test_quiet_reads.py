"""With the operator running and nothing changing, its reads do not grow with the number
of policies: steps read the operator's watch caches, not the API server.

Reads are the operator's GETs and LISTs in the API server's audit log (kopf's and its own
client's, told apart from every other client by the user agent), over a quiet window with
one policy, then with five. The policies select no pod, so they stay in Profiling, where
a step reads pods and nodes' states each time.
"""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from benchmarks.api_requests import AuditedReads, operator_reads
from schedcp.api.v1alpha1.base import GROUP, VERSION
from tests.operator.test_rollout import PLURAL, Scene, policy_body

pytestmark = pytest.mark.cluster

QUIET_SECONDS = 12.0
SETTLE_SECONDS = 60.0


def quiet_reads(audit: AuditedReads) -> int:
    """Reads over the quiet window, once a short one has shown none: the operator's
    start-up lists (one per watched kind) and a new policy's first steps are over. An
    operator that polls never shows a read-free window, and is measured after a minute."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        mark = audit.mark()
        time.sleep(2)
        if operator_reads(audit.since(mark)) == 0:
            break
    mark = audit.mark()
    time.sleep(QUIET_SECONDS)
    return operator_reads(audit.since(mark))


def test_an_idle_operator_reads_nothing_per_policy(kube_cluster, namespace, crds_installed, start_operator) -> None:
    scene = Scene(kube_cluster, namespace)
    audit = AuditedReads(kube_cluster.audit_log)
    custom = client.CustomObjectsApi(scene.api)
    op = start_operator("--standalone", "--artifacts-namespace", namespace)
    selecting_nothing = {"podSelector": {"matchLabels": {"app": "absent"}}, "objective": {"kind": "latency"}}
    scene.apply(policy_body("p0", **selecting_nothing))
    scene.wait_condition("p0", "Accepted", op, status="False")
    one = quiet_reads(audit)
    for i in range(1, 5):
        scene.apply(policy_body(f"p{i}", **selecting_nothing))
    for i in range(1, 5):
        scene.wait_condition(f"p{i}", "Accepted", op, status="False")
    five = quiet_reads(audit)
    # The log does name the operator: its start-up lists are there.
    assert operator_reads(audit.since(0)) > 0, "no read by the operator in the audit log"
    # Per policy per step would be four each second or two.
    assert one == 0 and five == 0, f"operator reads in {QUIET_SECONDS:.0f} s: {one} with one policy, {five} with five"
    assert all(custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, f"p{i}")["status"]["phase"]
               == "Profiling" for i in range(5))
