"""Pods that ask for a class with `schedcp.io/optimize: latency|throughput|batch` get a
policy without anyone writing one.

Selectors match labels, not annotations, so the operator mirrors the annotation into the
label `schedcp.io/optimize`; one derived policy per namespace and class selects that label.
The policy is owned by every pod that asked for it, so the garbage collector deletes it
(and its finalizer reverts its nodes) when the last of them is gone. The class itself
reaches class-aware schedulers through the node's class map (see workload.py).

The namespace's governance decides whether an annotation may create a policy at all, and
bounds its mode: a namespace that forbids it gets no policy, and the pod a Warning Event
naming the rule and the governance objects.
"""

from __future__ import annotations

from typing import Any, cast

import kopf
from kubernetes import client
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_random

from schedcp.api.v1alpha1 import GROUP, SCHEDULER_POLICY, VERSION
from schedcp.api.v1alpha1.base import API_VERSION
from schedcp.api.v1alpha1.nodestate import WorkloadClass
from schedcp.api.v1alpha1.policy import Designer, Mode, Objective, ObjectiveKind, SchedulerPolicySpec
from schedcp_operator.indexes import IndexedWorld
from schedcp_operator.workload import OPTIMIZE_ANNOTATION

OBJECTIVES = {WorkloadClass.LATENCY: ObjectiveKind.LATENCY, WorkloadClass.THROUGHPUT: ObjectiveKind.THROUGHPUT,
              WorkloadClass.BATCH: ObjectiveKind.MAKESPAN}
DERIVED_LABEL = "schedcp.io/derived-from"


def derived_name(workload_class: WorkloadClass) -> str:
    return f"optimize-{workload_class}"


def derived_spec(workload_class: WorkloadClass, mode: Mode) -> SchedulerPolicySpec:
    return SchedulerPolicySpec.model_validate({
        "podSelector": {"matchLabels": {OPTIMIZE_ANNOTATION: str(workload_class)}},
        "goal": f"pods annotated {OPTIMIZE_ANNOTATION}={workload_class}",
        "objective": Objective(kind=OBJECTIVES[workload_class]), "mode": mode, "designer": Designer(),
    })


def _owner(pod: kopf.Body) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"],
            "blockOwnerDeletion": False}


def _conflict(error: BaseException) -> bool:
    return isinstance(error, client.ApiException) and error.status == 409


# Pods created together race to create or join the policy; the loser reads again. Event
# handlers are not retried by kopf, so the retry is here.
@retry(retry=retry_if_exception(_conflict), stop=stop_after_attempt(8), wait=wait_random(0.05, 0.5), reraise=True)
def ensure_policy(api: client.ApiClient, pod: kopf.Body, workload_class: WorkloadClass, mode: Mode) -> str:
    """Create the namespace's derived policy for the class, or add the pod to its owners."""
    custom = client.CustomObjectsApi(api)
    namespace, name = pod["metadata"]["namespace"], derived_name(workload_class)
    try:
        current = cast(dict[str, Any],
                       custom.get_namespaced_custom_object(GROUP, VERSION, namespace, SCHEDULER_POLICY.plural, name))
    except client.ApiException as error:
        if error.status != 404:
            raise
        body = {"apiVersion": API_VERSION, "kind": SCHEDULER_POLICY.kind,
                "metadata": {"name": name, "labels": {DERIVED_LABEL: "pod-annotations"}, "ownerReferences": [_owner(pod)]},
                "spec": derived_spec(workload_class, mode).to_wire()}
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, SCHEDULER_POLICY.plural, body)
        return "created"
    owners = current["metadata"].get("ownerReferences") or []
    if any(o.get("uid") == pod["metadata"]["uid"] for o in owners):
        return "unchanged"
    # The resourceVersion makes two pods joining at once retry instead of dropping one.
    patch = {"metadata": {"resourceVersion": current["metadata"]["resourceVersion"],
                          "ownerReferences": [*owners, _owner(pod)]}}
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, SCHEDULER_POLICY.plural, name, patch)
    return "joined"


# An event handler, not create/update: those would store kopf's state in annotations on
# every user pod, and this handler is idempotent anyway.
@kopf.on.event("", "v1", "pods", annotations={OPTIMIZE_ANNOTATION: kopf.PRESENT})
def derive(event: kopf.RawEvent, body: kopf.Body, meta: kopf.Meta, memo: kopf.Memo, logger: kopf.Logger,
           **indexes: Any) -> None:
    if event.get("type") == "DELETED" or meta.get("deletionTimestamp"):
        return
    asked = meta["annotations"][OPTIMIZE_ANNOTATION]
    if asked not in WorkloadClass.__members__.values():
        kopf.event(body, type="Warning", reason="UnknownWorkloadClass",
                   message=f"{OPTIMIZE_ANNOTATION}={asked!r}: expected one of latency, throughput, batch")
        return
    workload_class = WorkloadClass(asked)
    wanted = Mode(memo.get("derived_mode") or Mode.RECOMMEND)
    rules = IndexedWorld(indexes).rules(meta["namespace"])
    mode = rules.derived_mode(wanted) if rules is not None else wanted
    if mode is None:
        assert rules is not None
        kopf.event(body, type="Warning", reason="DerivedPolicyForbidden",
                   message=f"{OPTIMIZE_ANNOTATION}={asked}: {rules.source()} forbids policies derived from pod "
                           f"annotations in namespace {meta['namespace']} (rule derivedPolicies: Off); none was created")
        return
    api = memo["lifecycle"].api
    if (meta.get("labels") or {}).get(OPTIMIZE_ANNOTATION) != asked:
        client.CoreV1Api(api).patch_namespaced_pod(meta["name"], meta["namespace"],
                                                   {"metadata": {"labels": {OPTIMIZE_ANNOTATION: asked}}})
    what = ensure_policy(api, body, workload_class, mode)
    if what != "unchanged":
        logger.info("derived policy %s: %s", derived_name(workload_class), what)
        kopf.event(body, type="Normal", reason="PolicyDerived",
                   message=f"policy {derived_name(workload_class)} ({what}) optimises this pod for {asked}")
