"""Outcomes from the fleet into the repository: what a policy's revision did to its workload.

A revision reaches a verdict when the circuit breaker sends it back (a canary that made the
protected pods or the neighbours worse: Regressed, with the measures and the limit crossed;
a node's kernel ejected it: Ejected, with the kernel's reason) or when it has been Active
for the settling time (Improved, Neutral or Regressed against the canary's before-metrics,
on the objective's measure). The lifecycle puts the verdict in the policy's status
(`status.outcome`, not yet recorded), writes that status, and then records it here: one
history entry per (revision, outcome) on the template, written with the resourceVersion it
was read at, so an operator that stops between the template's write and the policy's
`recorded: true` finds the entry there and does not count it twice. History is bounded
(the template's schema keeps the newest 100).

Generated code has no template to learn on: when it improved its workload it is promoted
once (one SchedulerTemplate per source digest) with its provenance, and the entry goes to
that template, where the next similar workload finds it. Generated code that did not
improve leaves its verdict in the policy's status only.

The lesson: the entry itself is the structured one (outcome, tunables, the measure before
and after, the limit). With the Claude designer the learning role adds a one-line lesson
in one short call; if that call fails, the structured lesson stands alone.
"""

from __future__ import annotations

import logging
import os
import re

import anthropic
from kubernetes import client

from schedcp.api.v1alpha1.base import SchedulingMetrics, now
from schedcp.api.v1alpha1.policy import Budget, LearnedOutcome, Reason
from schedcp.api.v1alpha1.revision import SchedulerRevisionSpec
from schedcp.api.v1alpha1.template import (
    HistoryEntry,
    Origin,
    Outcome,
    SchedulerTemplateSpec,
    TemplateProvenance,
    Tunable,
    TunableType,
)
from schedcp.naming import fit
from schedcp_operator.design.claude import ClaudeLoop, DesignError
from schedcp_operator.design.designer import learn_with_claude
from schedcp_operator.design.profile import Trait, WorkloadProfile
from schedcp_operator.design.repository import Repository, promote, record_outcome
from schedcp_operator.design.tools import Workspace
from schedcp_operator.policy_view import PolicyView
from schedcp_operator.revisions import Revisions

log = logging.getLogger("schedcp.learning")

# Why a node sent the revision back, and what that says about the scheduler.
BREAK_OUTCOMES = {Reason.CANARY_REGRESSED: Outcome.REGRESSED, Reason.CANARY_HURT_NEIGHBOURS: Outcome.REGRESSED,
                  Reason.SCHEDULER_EJECTED: Outcome.EJECTED}
# One call, bounded: the lesson must never hold a lifecycle step for long.
LESSON_BUDGET = Budget(max_calls=2, max_tokens=20_000, max_cost_usd="0.05", max_wall_seconds=60)
LESSON_TIMEOUT_SECONDS = 30.0
LESSON_MAX_LENGTH = 300
TUNABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def profile_of(signature: str, before: SchedulingMetrics | None) -> WorkloadProfile:
    """The workload a signature stands for: its objective and traits (unknown traits dropped)."""
    objective, *traits = signature.split("+")
    known = {t.value for t in Trait}
    return WorkloadProfile(objective=objective, traits=[Trait(t) for t in traits if t in known],  # type: ignore[arg-type]
                           protected=before)


class Learning:
    def __init__(self, api: client.ApiClient, revisions: Revisions) -> None:
        self.api = api
        self.revisions = revisions

    def avoided(self, profile: WorkloadProfile) -> list[str]:
        """The anti-patterns a design for this workload will steer clear of."""
        return list(Repository.load(self.api).avoided(profile).values())

    def target(self, policy: PolicyView, learned: LearnedOutcome, signature: str) -> LearnedOutcome:
        """Which template the outcome goes to: the revision's own, or (generated code that
        improved) the template it is promoted to; `recorded` already when there is none."""
        if learned.template is not None:
            return learned
        found = self.revisions.read(learned.revision)
        if found is None:
            return learned.model_copy(update={"recorded": True, "note": f"{learned.note}; the revision is gone"[:2048]})
        spec, _ = found
        if spec.template is not None:
            return learned.model_copy(update={"template": spec.template})
        if learned.outcome != Outcome.IMPROVED:
            return learned.model_copy(update={"recorded": True})
        name = self._promote(policy, spec, learned, signature)
        return learned.model_copy(update={"template": name, "promoted": name})

    def _promote(self, policy: PolicyView, spec: SchedulerRevisionSpec, learned: LearnedOutcome, signature: str) -> str:
        repository = Repository.load(self.api)
        existing = repository.with_source(spec.source.sha256)
        if existing is not None:
            return existing
        name = fit(f"generated-{learned.revision}")
        rationale = spec.provenance.rationale or "generated by the design loop"
        # The measured configuration, pinned: the next workload builds the very object that improved.
        pinned = [Tunable(name=k, type=TunableType.S64, default=v, minimum=v, maximum=v, description="as measured")
                  for k, v in sorted(spec.tunables.items()) if TUNABLE_NAME.match(k)]
        template = SchedulerTemplateSpec(
            description=f"Generated for {policy.namespace}/{policy.name} ({signature}): {rationale}"[:4096],
            algorithm=rationale[:4096], use_cases=[f"workloads like {signature}"[:512]], tunables=pinned,
            origin=Origin.GENERATED, source=spec.source,
            provenance=TemplateProvenance(policy=policy.ref, revision=learned.revision, workload_signature=signature,
                                          before=learned.before, after=learned.after))
        promote(self.api, repository, name, template)
        return name

    def record(self, policy: PolicyView, learned: LearnedOutcome, signature: str) -> LearnedOutcome:
        """Into the template's history, once per (revision, outcome); then `recorded`."""
        assert learned.template is not None
        repository = Repository.load(self.api)
        if learned.template not in repository.entries:
            return learned.model_copy(update={"recorded": True, "note": f"{learned.note}; template deleted"[:2048]})
        found = self.revisions.read(learned.revision)
        entry = HistoryEntry(workload_signature=signature, revision=learned.revision, policy=policy.ref,
                             outcome=learned.outcome, tunables=found[0].tunables if found else {},
                             before=learned.before, after=learned.after, note=_note(learned), time=now())
        record_outcome(self.api, repository, learned.template, entry)
        return learned.model_copy(update={"recorded": True})

    def lesson(self, policy: PolicyView, learned: LearnedOutcome, signature: str) -> str:
        """The learning role's one-line lesson, empty if Claude could not give one."""
        if not os.environ.get("ANTHROPIC_API_KEY"):  # removed since the design: the structured lesson stands
            return ""
        designer = policy.spec.designer
        ws = Workspace(profile_of(signature, learned.before), Repository.load(self.api))
        try:
            loop = ClaudeLoop(anthropic.Anthropic(timeout=LESSON_TIMEOUT_SECONDS, max_retries=1), designer.model,
                              LESSON_BUDGET, max_repairs=1)
            recorded = learn_with_claude(loop, ws, learned.template or "", learned.revision, learned.before,
                                         learned.after, measured=f"{learned.outcome}: {learned.note}")
        except (DesignError, anthropic.AnthropicError) as error:
            log.warning("no lesson from Claude for %s: %s", learned.revision, error)
            return ""
        return recorded.note.strip().splitlines()[0][:LESSON_MAX_LENGTH] if recorded.note.strip() else ""


def _note(learned: LearnedOutcome) -> str:
    """The one-line lesson first, the measurement it rests on after it."""
    return (f"{learned.lesson} [measured: {learned.note}]" if learned.lesson else learned.note)[:2048]
