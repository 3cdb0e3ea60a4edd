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

The repository's history comes first: a configuration that improved a similar workload
(the most similar, then the newest) is tried before the rule's choice, with the tunables
it had; a template whose latest outcome on this very workload signature was a regression,
an ejection or a rejection is skipped, and the design's rationale names the lesson.

The choice is verified like any LLM result. If it fails (unsafe, or with a performance
goal not better than the kernel's own scheduler), the repository's next-ranked templates
and then fair sharing are tried, `MAX_CANDIDATES` in all. If every safe one was refused
only by the performance gate, the design ends in `NoImprovement`: the kernel's default is
kept rather than something that is not better.
"""

from __future__ import annotations

from typing import NamedTuple

from schedcp.api.v1alpha1.policy import ObjectiveKind
from schedcp_operator.design.claude import DesignError, NoImprovement
from schedcp_operator.design.profile import Trait, WorkloadProfile
from schedcp_operator.design.repository import Repository
from schedcp_operator.design.tools import (
    Action,
    DesignOutcome,
    Finish,
    PlanDecision,
    ProposeConfiguration,
    RunVerifier,
    Workspace,
    decide_plan,
    finish,
    propose_configuration,
    run_verifier,
)

FAIR = "vtime"
# Each candidate costs a micro-VM boot (unless remembered).
MAX_CANDIDATES = 3


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


class Candidates(NamedTuple):
    choice: Choice
    tried: list[tuple[str, dict[str, int]]]  # (template, tunables) in the order the planner tries them
    ranked: list[str]  # the repository's ranking of every template, binaries included
    avoided: dict[str, str] = {}  # template -> the anti-pattern that ruled it out
    proven: dict[str, str] = {}  # template -> the earlier improvement it is tried for


def candidates(profile: WorkloadProfile, repository: Repository) -> Candidates:
    """What improved a similar workload, then the rule's choice, then the repository's
    ranking, then fair sharing; each template once, none that this workload avoids.

    The rule table and its fallbacks are the project's own templates: the scx binaries know
    no pod classes, so protecting the policy's pods is not theirs to do; Claude may still
    choose one where the profile says it fits.
    """
    choice = choose(profile)
    avoided = repository.avoided(profile)
    proven = [(name, _declared(repository, name, h.tunables), h) for name, h in repository.proven(profile)]
    ranked = [r.name for r in repository.search(profile, "", 5)]
    own = [name for name in ranked if not repository.get(name).spec.source.binary]
    unique: dict[str, dict[str, int]] = {}
    for template, tunables in [*((name, tunables) for name, tunables, _ in proven), (choice.template, choice.tunables),
                               *((name, {}) for name in own), (FAIR, {})]:
        if template not in avoided:
            unique.setdefault(template, tunables)
    why = {name: f"improved {h.workload_signature} with revision {h.revision}" for name, _, h in reversed(proven)}
    return Candidates(choice, list(unique.items())[:MAX_CANDIDATES], ranked, avoided, why)


def _declared(repository: Repository, template: str, tunables: dict[str, int]) -> dict[str, int]:
    """The recorded configuration, as far as the template (perhaps edited since) still declares it."""
    declared = {t.name: t for t in repository.get(template).spec.tunables}
    return {k: v for k, v in tunables.items() if k in declared and declared[k].minimum <= v <= declared[k].maximum}


def _opening(found: Candidates) -> str:
    """Why the first candidate: an earlier improvement, the rule, or the rule's choice ruled out."""
    first = found.tried[0][0] if found.tried else None
    if first in found.proven:
        return f"the repository's history: {first} {found.proven[first]}"
    if found.choice.template in found.avoided:
        return f"{found.choice.rule}, but {found.choice.template} is an anti-pattern here: {first} is next by the ranking"
    return found.choice.rule


def plan_offline(ws: Workspace) -> DesignOutcome:
    found = candidates(ws.profile, ws.repository)
    rule = _opening(found)
    lessons = "".join(f"; avoided {lesson}" for lesson in found.avoided.values())
    for attempt, tunables in found.tried:
        decide_plan(ws, PlanDecision(action=Action.CONFIGURE, template=attempt, reason=rule))
        propose_configuration(ws, ProposeConfiguration(template=attempt, tunables=tunables))
        report = run_verifier(ws, RunVerifier())
        if report.passed:
            rank = found.ranked.index(attempt) + 1 if attempt in found.ranked else None
            agreement = f"; the repository ranks it #{rank}" if rank else ""
            return finish(ws, Finish(rationale=f"offline rule: {rule}{agreement}{lessons}"[:8192]))
        why = "was not better than the kernel's default" if report.not_better else "failed verification"
        rule = f"{attempt} {why}: the next candidate by the repository's ranking"
    if ws.safe_but_not_better():
        raise NoImprovement(ws.tried)
    failed = next((st for st in ws.report.stages if st.result == "Failed"), None) if ws.report else None
    why = f": {failed.name}: {failed.message}" if failed else ""
    names = ", ".join(template for template, _ in found.tried)
    raise DesignError(f"offline planner: none of {names} passed verification{why}"[:2000])
