"""kopf handlers for SchedulerPolicy: validate and assess on every spec change, advance
the lifecycle when an event that matters wakes it (a slow timer besides, for its clocks:
windows, timeouts), revert the nodes before the finalizer goes."""

from __future__ import annotations

import asyncio
import copy
from datetime import datetime
from typing import Any

import kopf
from kubernetes import client
from pydantic import ValidationError

from schedcp.api.v1alpha1 import SCHEDULER_POLICY, ConditionStatus
from schedcp.api.v1alpha1.base import ConditionType
from schedcp.api.v1alpha1.policy import SchedulerPolicySpec, SchedulerPolicyStatus
from schedcp.conditions import find_condition
from schedcp_operator import semantics
from schedcp_operator.assessment import Verdict, next_status, verdict
from schedcp_operator.indexes import IndexedWorld
from schedcp_operator.kube import identified
from schedcp_operator.lifecycle import Lifecycle, Settings
from schedcp_operator.policy_steps import Taken, read_policy, take_step
from schedcp_operator.policy_view import PolicyView
from schedcp_operator.wakeups import wakeups_of

RESOURCE = (SCHEDULER_POLICY.group, SCHEDULER_POLICY.version, SCHEDULER_POLICY.plural)
# The timer a policy steps on when nothing wakes it: its deadlines (evaluation windows,
# activation and profiling timeouts) are met this late at most.
STEP_INTERVAL_SECONDS = 5.0
# Steps of one policy at most this often: a rollout's nodes report in bursts.
STEP_GAP_SECONDS = 1.0
RETRY_SECONDS = 5.0


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
    before = find_condition(previous.conditions, ConditionType.ACCEPTED)
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
        memo["lifecycle"] = Lifecycle(identified(client.ApiClient()), memo.get("settings") or Settings())
    lifecycle: Lifecycle = memo["lifecycle"]
    return lifecycle


async def _woken(woken: asyncio.Event) -> bool:
    """Until an event wakes the policy (True) or the timer goes off (False)."""
    try:
        await asyncio.wait_for(woken.wait(), STEP_INTERVAL_SECONDS)
    except TimeoutError:
        return False
    woken.clear()
    return True


def _announce_step(body: kopf.Body, taken: Taken, logger: kopf.Logger) -> None:
    if taken.after != taken.before:
        logger.info("phase %s -> %s", taken.before, taken.after)
    for event in taken.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)


@kopf.daemon(*RESOURCE, cancellation_timeout=3.0)
async def advance(body: kopf.Body, meta: kopf.Meta, memo: kopf.Memo, stopped: kopf.DaemonStopped,
                  logger: kopf.Logger, **indexes: Any) -> None:
    """The policy's steps, each on kopf's copy of the policy (`body` follows the watch) and
    the indexes. After a step wrote the status, kopf's copy lags until the watch brings
    that write: a step woken before then would start from the old status, so it waits."""
    lifecycle, world, wakeups = _lifecycle(memo), IndexedWorld(indexes), wakeups_of(memo)
    key = (meta["namespace"], meta["name"])
    woken, lagging = wakeups.register(key), None
    woken.set()  # the event that made the policy came before the daemon: step at once
    try:
        while not stopped:
            if await _woken(woken) and body.metadata.get("resourceVersion") == lagging:
                continue
            obj = copy.deepcopy(dict(body))
            started = obj["metadata"]["resourceVersion"]
            try:
                taken = await asyncio.to_thread(take_step, lifecycle, obj, world)
            except Exception as error:
                logger.warning("step failed (%s: %s); again in %.0f s", type(error).__name__, error, RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)
                woken.set()
                taken = None
            lagging = started if obj["metadata"]["resourceVersion"] != started else None
            if taken is not None:
                _announce_step(body, taken, logger)
            await asyncio.sleep(STEP_GAP_SECONDS)
    finally:
        wakeups.forget(key)


@kopf.on.delete(*RESOURCE)
def release(body: kopf.Body, meta: kopf.Meta, memo: kopf.Memo, logger: kopf.Logger, **indexes: Any) -> None:
    """Nodes go back to what they ran before this policy, then kopf removes the finalizer;
    an operator that was down during the deletion does this when it returns."""
    lifecycle = _lifecycle(memo)
    obj = read_policy(lifecycle.api, meta["namespace"], meta["name"])
    if obj is None:
        return
    since = datetime.fromisoformat(str(meta.get("deletionTimestamp")).replace("Z", "+00:00"))
    waiting = lifecycle.release(PolicyView.of(obj), since, IndexedWorld(indexes))
    if waiting:
        raise kopf.TemporaryError(waiting, delay=2)
    logger.info("policy deleted; nodes released")
    kopf.event(body, type="Normal", reason="Released", message="nodes reverted to their previous scheduler")
