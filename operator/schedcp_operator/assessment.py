"""What the operator concludes about one SchedulerPolicy generation, before any node is touched.

Pure functions from (spec, findings, previous status) to the next status, so that a
reconcile interrupted anywhere and run again arrives at the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from schedcp.api.v1alpha1.base import ConditionStatus, ConditionType
from schedcp.api.v1alpha1.policy import Mode, Phase, Reason, SchedulerPolicySpec, SchedulerPolicyStatus
from schedcp.conditions import set_condition
from schedcp_operator.semantics import Finding

_BEFORE_LIFECYCLE = (None, Phase.INVALID, Phase.DISABLED)
VALID = (ConditionStatus.TRUE, Reason.VALID, "the spec is valid and meaningful")


@dataclass(frozen=True)
class Verdict:
    phase: Phase
    accepted: tuple[ConditionStatus, str, str]
    ready: tuple[ConditionStatus, str, str]


def verdict(spec: SchedulerPolicySpec | None, found: list[Finding]) -> Verdict:
    if spec is None or found:
        summary = "; ".join(f.message for f in found)
        reason = found[0].reason if found else "InvalidSpec"
        return Verdict(
            Phase.INVALID,
            (ConditionStatus.FALSE, reason, summary),
            (ConditionStatus.FALSE, reason, "the spec must be fixed before anything is designed"),
        )
    accepted = VALID
    if spec.mode == Mode.OFF:
        return Verdict(Phase.DISABLED, accepted, (ConditionStatus.FALSE, Reason.DISABLED, "mode is Off: nothing is done"))
    return Verdict(
        Phase.PENDING,
        accepted,
        (ConditionStatus.FALSE, "AwaitingProfiles", "accepted; waiting for the selected pods' profiles"),
    )


def next_status(previous: SchedulerPolicyStatus, found: Verdict, generation: int) -> SchedulerPolicyStatus:
    """Acceptance always; the phase only where the lifecycle has not taken over (it owns
    every phase after Pending, and reverts nodes itself when mode turns Off)."""
    conditions = set_condition(previous.conditions, type=ConditionType.ACCEPTED, status=found.accepted[0], reason=found.accepted[1],
                               message=found.accepted[2], observed_generation=generation)
    phase = previous.phase
    if found.phase == Phase.INVALID or phase in _BEFORE_LIFECYCLE:
        phase = found.phase
    if phase != previous.phase:
        status, reason, message = found.ready
        conditions = set_condition(conditions, type=ConditionType.READY, status=status, reason=reason, message=message,
                                   observed_generation=generation)
    return previous.model_copy(update={"phase": phase, "observed_generation": generation, "conditions": conditions})
