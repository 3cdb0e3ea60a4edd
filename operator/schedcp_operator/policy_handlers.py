"""kopf handlers for SchedulerPolicy: validate, assess, write status, post Events."""

from __future__ import annotations

import logging
from typing import Any

import kopf
from pydantic import ValidationError

from schedcp.api.v1alpha1 import SCHEDULER_POLICY, ConditionStatus
from schedcp.api.v1alpha1.policy import SchedulerPolicySpec, SchedulerPolicyStatus
from schedcp.conditions import find_condition
from schedcp_operator import semantics
from schedcp_operator.assessment import ACCEPTED, Verdict, next_status, verdict

RESOURCE = (SCHEDULER_POLICY.group, SCHEDULER_POLICY.version, SCHEDULER_POLICY.plural)


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
    logger: logging.Logger,
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


@kopf.on.delete(*RESOURCE)
def release(body: kopf.Body, logger: logging.Logger, **_: Any) -> None:
    # No node carries anything of this policy before rollout exists; once it does, the
    # nodes are reverted here, before kopf removes the finalizer.
    logger.info("policy deleted; releasing")
    kopf.event(body, type="Normal", reason="Released", message="policy deleted; finalizer removed")
