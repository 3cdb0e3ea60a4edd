"""One design, from a workload profile to a verified candidate with its provenance.

The roles run in order, each given only what it needs: observation sees the profile,
planning the description and the repository, execution the plan. The offline planner
takes the same path through the same tools without an LLM.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel

from schedcp.api.v1alpha1.policy import DesignerKind
from schedcp.api.v1alpha1.revision import Provenance
from schedcp_operator.design.claude import ClaudeLoop, DesignError, DesignInterrupted, NoImprovement, Spend
from schedcp_operator.design.offline import plan_offline
from schedcp_operator.design.roles import EXECUTION, LEARNING, OBSERVATION, PLANNING, Role
from schedcp_operator.design.tools import DesignOutcome, RecordOutcome, SearchRepository, Workspace, search_repository


class DesignRecord(BaseModel):
    designer: DesignerKind
    model: str | None = None
    outcome: DesignOutcome
    description: str = ""
    spend: Spend = Spend()
    transcript: list[dict[str, Any]] = []

    def provenance(self) -> Provenance:
        prompt = json.dumps(self.transcript[:1], sort_keys=True, default=str).encode() if self.transcript else None
        return Provenance(
            designer=self.designer, model=self.model,
            prompt_sha256=hashlib.sha256(prompt).hexdigest() if prompt else None,
            calls=self.spend.calls, input_tokens=self.spend.input_tokens + self.spend.cache_write_tokens
            + self.spend.cache_read_tokens, output_tokens=self.spend.output_tokens,
            cost_usd=f"{self.spend.usd:.6f}", rationale=self.outcome.rationale[:8192],
        )


def _context(role: Role, ws: Workspace) -> dict[str, Any]:
    profile = ws.profile
    if role is OBSERVATION:
        summary = profile.model_dump(mode="json", exclude={"description"}, exclude_none=True)
        return {"profile": summary, "details": "get_workload_profile with details=true adds each pod"}
    if role is PLANNING:
        # The ranking is cheap and deterministic: handing it over saves a round trip.
        ranked = search_repository(ws, SearchRepository(limit=3))
        # History: start from what improved a similar workload; the anti-patterns say which
        # template and tunables made this one worse.
        return {"workload": profile.description, "objective": profile.objective, "traits": profile.traits,
                "goal": profile.goal, "repository": ranked.model_dump(),
                "proven_on_similar_workloads": ws.repository.proven_lessons(profile)}
    assert ws.plan is not None
    return {"plan": ws.plan.model_dump(), "objective": profile.objective, "traits": profile.traits,
            "max_batch_loss_percent": profile.max_batch_loss_percent,
            "anti_patterns": ws.repository.anti_patterns(profile),
            "proven_on_similar_workloads": ws.repository.proven_lessons(profile),
            "performance_goal": ws.goal.model_dump(mode="json") if ws.goal else None}


def design_with_claude(loop: ClaudeLoop, ws: Workspace) -> DesignRecord:
    try:
        for role in (OBSERVATION, PLANNING, EXECUTION):
            ws.progress(f"Claude: {role.name} ({loop.spend.calls} calls so far)")
            loop.run(role, ws, _context(role, ws))
    except DesignInterrupted:
        raise
    except DesignError as error:
        # Out of repairs or budget after safe candidates that were only not better.
        if ws.safe_but_not_better():
            raise NoImprovement(ws.tried) from error
        raise
    if ws.result is None:
        raise DesignError("execution ended without a verified candidate")
    return DesignRecord(designer=DesignerKind.CLAUDE, model=loop.model, outcome=ws.result,
                        description=ws.profile.description, spend=loop.spend, transcript=loop.transcript)


def design_offline(ws: Workspace) -> DesignRecord:
    outcome = plan_offline(ws)
    return DesignRecord(designer=DesignerKind.OFFLINE, outcome=outcome, description=ws.profile.description)


def learn_with_claude(loop: ClaudeLoop, ws: Workspace, template: str, revision: str,
                      before: BaseModel | None, after: BaseModel | None, measured: str = "") -> RecordOutcome:
    """The learning role: after a rollout, judge the outcome; the caller writes it to history."""
    context = {"template": template, "revision": revision, "objective": ws.profile.objective,
               "traits": ws.profile.traits, "measured_outcome": measured,
               "metrics_before": before.model_dump(exclude_none=True) if before else None,
               "metrics_after": after.model_dump(exclude_none=True) if after else None}
    loop.run(LEARNING, ws, context)
    if ws.outcome is None:
        raise DesignError("learning ended without recording an outcome")
    return ws.outcome
