"""The offline planner: deterministic rules over the same tools Claude uses.

Used when no API key is set and as the demo's default. The rules, first match wins:

| profile                                                   | template                       |
| --------------------------------------------------------- | ------------------------------ |
| objective makespan                                        | batch, longest job first       |
| trait long-tail-batch                                     | batch, shortest job first      |
| objective latency with mixed-load pods                    | latency-class                  |
| trait interactive                                         | interactive                    |
| objective latency with latency-sensitive pods             | latency-class                  |
| objective throughput, cpu-bound, not contended            | fifo                           |
| anything else                                             | vtime (fair)                   |

Longest job first for makespan because the last long job to start decides when the
batch ends; shortest first when the goal is jobs' mean completion.

The choice is verified like any LLM result; if it fails, the fair template is tried
before giving up.
"""

from __future__ import annotations

from typing import NamedTuple

from schedcp.api.v1alpha1.policy import ObjectiveKind

from schedcp_operator.design.claude import DesignError
from schedcp_operator.design.profile import Trait, WorkloadProfile
from schedcp_operator.design.tools import (
    Action,
    DesignOutcome,
    Finish,
    PlanDecision,
    ProposeConfiguration,
    RunVerifier,
    SearchRepository,
    Workspace,
    decide_plan,
    finish,
    propose_configuration,
    run_verifier,
    search_repository,
)

FAIR = "vtime"


class Choice(NamedTuple):
    template: str
    tunables: dict[str, int]
    rule: str


def choose(profile: WorkloadProfile) -> Choice:
    traits, objective = set(profile.traits), profile.objective
    if objective == ObjectiveKind.MAKESPAN:
        return Choice("batch", {"longest_first": 1}, "makespan goal: longest expected job first")
    if Trait.LONG_TAIL_BATCH in traits:
        return Choice("batch", {}, "long-tail batch: shortest expected job first")
    if objective == ObjectiveKind.LATENCY and Trait.MIXED_LOAD in traits:
        return Choice("latency-class", {}, "latency goal next to CPU-bound pods: protected cgroups first, with preemption")
    if Trait.INTERACTIVE in traits:
        return Choice("interactive", {}, "sleep/wake pattern: boost tasks that wake often")
    if objective == ObjectiveKind.LATENCY and Trait.LATENCY_SENSITIVE in traits:
        return Choice("latency-class", {}, "latency goal for wake-heavy pods: protected cgroups first")
    if objective == ObjectiveKind.THROUGHPUT and Trait.CPU_BOUND in traits and Trait.CONTENDED not in traits:
        return Choice("fifo", {}, "uncontended CPU-bound throughput: the least scheduling overhead")
    return Choice(FAIR, {}, "no specific pattern: weighted fair sharing")


def plan_offline(ws: Workspace) -> DesignOutcome:
    choice = choose(ws.profile)
    rule = choice.rule
    ranked = [r.name for r in search_repository(ws, SearchRepository(limit=5)).ranked]
    for attempt, tunables in ((choice.template, choice.tunables), (FAIR, {})):
        decide_plan(ws, PlanDecision(action=Action.CONFIGURE, template=attempt, reason=rule))
        propose_configuration(ws, ProposeConfiguration(template=attempt, tunables=tunables))
        report = run_verifier(ws, RunVerifier())
        if report.passed:
            rank = ranked.index(attempt) + 1 if attempt in ranked else None
            agreement = f"; the repository ranks it #{rank}" if rank else ""
            return finish(ws, Finish(rationale=f"offline rule: {rule}{agreement}"))
        rule = f"{attempt} failed verification, falling back to fair sharing"
    failed = next((st for st in ws.report.stages if st.result == "Failed"), None) if ws.report else None
    why = f": {failed.name}: {failed.message}" if failed else ""
    raise DesignError(f"offline planner: neither {choice.template} nor {FAIR} passed verification{why}"[:2000])
