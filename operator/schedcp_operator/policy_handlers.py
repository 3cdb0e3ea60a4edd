"""kopf handlers for SchedulerPolicy: validate and assess on every spec change, advance
the lifecycle on a timer, revert the nodes before the finalizer goes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import kopf
from kubernetes import client
from pydantic import ValidationError

from schedcp.api.v1alpha1 import SCHEDULER_POLICY, ConditionStatus
from schedcp.api.v1alpha1.policy import SchedulerPolicySpec, SchedulerPolicyStatus
from schedcp.conditions import find_condition
from schedcp_operator import semantics
from schedcp_operator.assessment import ACCEPTED, Verdict, next_status, verdict
from schedcp_operator.lifecycle import Lifecycle, PolicyView, Settings
from schedcp_operator.policy_steps import read_policy, take_step

RESOURCE = (SCHEDULER_POLICY.group, SCHEDULER_POLICY.version, SCHEDULER_POLICY.plural)
STEP_INTERVAL_SECONDS = 2.0


def _parse(spec: kopf.Spec) -> tuple[SchedulerPolicySpec | None, list[semantics.Finding]]:
    try:
        parsed = SchedulerPolicySpec.model_validate(dict(spec))
    except ValidationError as error:
        # The CRD schema should have refused this; an older CRD may be installed.
        return None, [semantics.Finding("InvalidSpec", str(error).replace("\n", " "))]
    return parsed, semantics.findings(parsed)


def _announce(body: kopf.Body, previous: SchedulerPolicyStatus, found: Verdict) -> None:
    """One Event per change of acceptance, not per reconcile: resumes stay quiet."""
    status, reason, message = found.accepted
    before = find_condition(previous.conditions, ACCEPTED)
    if before is not None and (before.status, before.reason, before.message) == (status, reason, message):
        return
    # kopf.event, not kopf.info: posting.level (WARNING) would drop our Normal events.
    if status == ConditionStatus.TRUE:
        kopf.event(body, type="Normal", reason="Accepted", message=f"policy accepted; phase {found.phase}")
    else:
        kopf.event(body, type="Warning", reason=reason, message=message)


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE, field="spec")
def reconcile(
    body: kopf.Body,
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    patch: kopf.Patch,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    generation = int(meta.get("generation") or 0)
    logger.info("reconciling generation %d", generation)
    previous = SchedulerPolicyStatus.model_validate(dict(status))
    parsed, found = _parse(spec)
    outcome = verdict(parsed, found)
    _announce(body, previous, outcome)
    patch.status.update(next_status(previous, outcome, generation).to_wire())
    logger.info("generation %d assessed: phase %s", generation, outcome.phase)


def _lifecycle(memo: kopf.Memo) -> Lifecycle:
    if "lifecycle" not in memo:
        memo["lifecycle"] = Lifecycle(client.ApiClient(), memo.get("settings") or Settings())
    lifecycle: Lifecycle = memo["lifecycle"]
    return lifecycle


# A failed step is retried soon: each step starts from the status the last one wrote.
@kopf.timer(*RESOURCE, interval=STEP_INTERVAL_SECONDS, initial_delay=1.0, backoff=5)
def advance(body: kopf.Body, meta: kopf.Meta, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    taken = take_step(_lifecycle(memo), meta["namespace"], meta["name"])
    if taken is None:
        return
    if taken.after != taken.before:
        logger.info("phase %s -> %s", taken.before, taken.after)
    for event in taken.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)


@kopf.on.delete(*RESOURCE)
def release(body: kopf.Body, meta: kopf.Meta, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Nodes go back to what they ran before this policy, then kopf removes the finalizer;
    an operator that was down during the deletion does this when it returns."""
    lifecycle = _lifecycle(memo)
    obj = read_policy(lifecycle.api, meta["namespace"], meta["name"])
    if obj is None:
        return
    since = datetime.fromisoformat(str(meta.get("deletionTimestamp")).replace("Z", "+00:00"))
    waiting = lifecycle.release(PolicyView.of(obj), since)
    if waiting:
        raise kopf.TemporaryError(waiting, delay=2)
    logger.info("policy deleted; nodes released")
    kopf.event(body, type="Normal", reason="Released", message="nodes reverted to their previous scheduler")
