"""Set a condition the way Kubernetes API conventions ask: lastTransitionTime moves only
when the status flips, so `kubectl describe` shows how long a state has held."""

from __future__ import annotations

from collections.abc import Iterable

from schedcp.api.v1alpha1.base import Condition, ConditionStatus, ConditionType, now


def set_condition(
    current: Iterable[Condition],
    *,
    type: ConditionType,
    status: ConditionStatus,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
) -> list[Condition]:
    existing = {c.type: c for c in current}
    previous = existing.get(type)
    transition = now() if previous is None or previous.status != status else previous.last_transition_time
    existing[type] = Condition(
        type=type,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=transition,
        observed_generation=observed_generation,
    )
    return list(existing.values())


def find_condition(conditions: Iterable[Condition], type: ConditionType) -> Condition | None:
    return next((c for c in conditions if c.type == type), None)
