"""Checks that the API server's schema cannot express: a spec that is well-formed but
cannot mean anything. Each finding becomes a False `Accepted` condition and an Event.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from schedcp.api.v1alpha1.base import LabelSelector, LabelSelectorRequirement, SelectorOperator
from schedcp.api.v1alpha1.policy import DesignerKind, SchedulerPolicySpec

# observation, planning and execution each need at least one call.
MIN_LLM_CALLS = 3
API_KEY_ENV = "ANTHROPIC_API_KEY"


@dataclass(frozen=True)
class Finding:
    reason: str
    message: str


def _allowed_values(selector: LabelSelector) -> dict[str, set[str] | None]:
    """Per key: the values a matching pod may carry (None: any), or an empty set if none can."""
    allowed: dict[str, set[str] | None] = {k: {v} for k, v in selector.match_labels.items()}
    for req in selector.match_expressions:
        prior = allowed.get(req.key)
        if req.operator == SelectorOperator.IN:
            allowed[req.key] = set(req.values) if prior is None else prior & set(req.values)
        elif req.operator == SelectorOperator.NOT_IN and prior is not None:
            allowed[req.key] = prior - set(req.values)
        elif req.operator == SelectorOperator.EXISTS:
            allowed.setdefault(req.key, None)
    return allowed


def _absent_keys(selector: LabelSelector) -> set[str]:
    return {r.key for r in selector.match_expressions if r.operator == SelectorOperator.DOES_NOT_EXIST}


def contradiction(selector: LabelSelector) -> str | None:
    """Why no pod can ever match the selector, or None if some pod could."""
    allowed = _allowed_values(selector)
    for key in sorted(_absent_keys(selector) & allowed.keys()):
        return f"label {key!r} is required and forbidden at once"
    for key, values in sorted(allowed.items()):
        if values is not None and not values:
            return f"no value of label {key!r} satisfies every requirement"
    return None


def merged(first: LabelSelector, second: LabelSelector) -> LabelSelector:
    """The selector matching pods that both match: used to relate `protect` to `podSelector`."""
    labels = dict(first.match_labels)
    extra = list(first.match_expressions) + list(second.match_expressions)
    for key, value in second.match_labels.items():
        if labels.setdefault(key, value) != value:
            extra.append(LabelSelectorRequirement(key=key, operator=SelectorOperator.IN, values=[value]))
    return LabelSelector.model_validate({"matchLabels": labels, "matchExpressions": extra})


def findings(spec: SchedulerPolicySpec, environ: Mapping[str, str] | None = None) -> list[Finding]:
    environ = os.environ if environ is None else environ
    found = []
    if reason := contradiction(spec.pod_selector):
        found.append(Finding("UnsatisfiableSelector", f"spec.podSelector can match no pod: {reason}"))
    protect = spec.objective.protect
    if protect is not None and not found and (reason := contradiction(merged(spec.pod_selector, protect))):
        found.append(
            Finding("ProtectedPodsNotSelected", f"spec.objective.protect excludes every selected pod: {reason}")
        )
    if spec.designer.kind == DesignerKind.CLAUDE:
        if spec.designer.budget.max_calls < MIN_LLM_CALLS:
            found.append(
                Finding(
                    "BudgetTooSmall",
                    f"spec.designer.budget.maxCalls={spec.designer.budget.max_calls}: a design needs at least "
                    f"{MIN_LLM_CALLS} calls (observation, planning, execution)",
                )
            )
        if not environ.get(API_KEY_ENV):
            found.append(
                Finding(
                    "DesignerUnavailable",
                    f"designer claude needs the operator's {API_KEY_ENV}; use designer offline or configure the key",
                )
            )
    return found
