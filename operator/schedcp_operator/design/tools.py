"""The sched-agent's tools: one typed definition shared by Claude, the offline planner
and the MCP server.

Every tool has a pydantic input and output model, so what an LLM sends is validated
before anything runs, and what it gets back has a schema it was told about. Tools act
only on the `Workspace` of one design (its profile, the repository, the candidate and
its verification): none of them runs a command on a node or loads anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, Field

from schedcp.api.v1alpha1.nodestate import PodProfile
from schedcp.api.v1alpha1.policy import CandidateVerdict, TriedDesign
from schedcp.api.v1alpha1.revision import VerificationReport
from schedcp.api.v1alpha1.template import SOURCE_MAX_LENGTH, BinarySource, Outcome, Tunable
from schedcp.verifying.cache import verify_remembered
from schedcp.verifying.performance import PerformanceGoal, summary
from schedcp_operator.design.profile import WorkloadProfile
from schedcp_operator.design.repository import Repository, RepositoryEntry

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)
Verifier = Callable[[str, dict[str, int], bool], VerificationReport]


class ToolError(Exception):
    """A refusal the caller can act on; its message goes back to the LLM as the tool result."""


class Action(StrEnum):
    CONFIGURE = "configure"  # a repository template with tunables
    PATCH = "patch"  # a repository template's source, modified
    SYNTHESIZE = "synthesize"  # new BPF C


class Origin(StrEnum):
    CONFIGURED = "configured"
    SUBMITTED = "submitted"


class Candidate(BaseModel):
    origin: Origin
    template: str | None = None
    tunables: dict[str, int] = {}
    source: str


class Workspace:
    """The state of one design: what the tools read and write.

    With a `goal`, the verifier's performance gate judges every candidate against the
    kernel's own scheduler, and `tried` keeps the verdicts: the table a design that
    found nothing better ends with.
    """

    def __init__(
        self,
        profile: WorkloadProfile,
        repository: Repository,
        pods: list[PodProfile] | None = None,
        verifier: Verifier | None = None,
        goal: PerformanceGoal | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.profile = profile
        # Where a design that runs for minutes says what it is doing (design_task).
        self.progress = progress or (lambda message: None)
        self.pods = pods or []
        self.repository = repository
        self.goal = goal
        self.verifier = verifier or partial(verify_remembered, goal=goal)
        self.plan: PlanDecision | None = None
        self.candidate: Candidate | None = None
        self.report: VerificationReport | None = None
        self.result: DesignOutcome | None = None
        self.outcome: RecordOutcome | None = None
        self.tried: list[TriedDesign] = []

    def safe_but_not_better(self) -> bool:
        """Some candidate was safe, and only the performance gate refused it."""
        return any(t.verdict not in (CandidateVerdict.BETTER, CandidateVerdict.UNSAFE) for t in self.tried)


# -- inputs and outputs ----------------------------------------------------------------

class GetWorkloadProfile(BaseModel):
    """The workload profile of the selected pods; details adds each pod's own metrics."""

    details: bool = False


class ProfileView(BaseModel):
    profile: WorkloadProfile
    pods: list[PodProfile] = []


class DescribeWorkload(BaseModel):
    """Record a short description of the workload and its explicit goals (observation's result)."""

    description: Annotated[str, Field(min_length=1, max_length=2000)]
    goals: Annotated[list[Annotated[str, Field(max_length=300)]], Field(max_length=10)] = []


class Done(BaseModel):
    ok: bool = True
    message: str = ""


class SearchRepository(BaseModel):
    """Rank the repository's schedulers for this workload; `query` adds free-text terms."""

    query: Annotated[str, Field(max_length=500)] = ""
    limit: Annotated[int, Field(ge=1, le=5)] = 3


class RankedTemplate(BaseModel):
    name: str
    score: float
    reasons: list[str]
    description: str


class SearchResult(BaseModel):
    ranked: list[RankedTemplate]
    anti_patterns: list[str]


class ReadTemplate(BaseModel):
    """One template's metadata (algorithm, use cases, limitations, tunables), source on request.
    A template with `binary` is a production scx scheduler: configure its tunables (its
    command-line flags); it has no source to patch."""

    name: Annotated[str, Field(min_length=1, max_length=253)]
    include_source: bool = False


class TemplateView(BaseModel):
    name: str
    description: str
    algorithm: str
    use_cases: list[str]
    limitations: list[str]
    tunables: list[Tunable]
    binary: BinarySource | None = None
    source: str | None = None


class PlanDecision(BaseModel):
    """Planning's decision: configure a template, patch one, or synthesize new BPF C."""

    action: Action
    template: Annotated[str | None, Field(max_length=253)] = None
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class ProposeConfiguration(BaseModel):
    """Choose a repository template and tunables (each within its declared range). For a
    scheduler binary the tunables are its command-line flags, and nothing else is passed."""

    template: Annotated[str, Field(min_length=1, max_length=253)]
    tunables: Annotated[dict[str, int], Field(max_length=32)] = {}


class SubmitSource(BaseModel):
    """Submit BPF C for a sched_ext scheduler (patched or new); it replaces the candidate."""

    source: Annotated[str, Field(min_length=1, max_length=SOURCE_MAX_LENGTH)]
    based_on: Annotated[str | None, Field(max_length=253)] = None
    tunables: Annotated[dict[str, int], Field(max_length=32)] = {}


class CandidateView(BaseModel):
    origin: Origin
    template: str | None
    tunables: dict[str, int]
    source_bytes: int


class RunVerifier(BaseModel):
    """Verify the candidate: static checks, the kernel verifier and (dynamic) a micro-VM run."""

    dynamic: bool = True


class Finish(BaseModel):
    """End the design with the verified candidate and why it fits the workload."""

    rationale: Annotated[str, Field(min_length=1, max_length=8192)]


class DesignOutcome(BaseModel):
    candidate: Candidate
    report: VerificationReport
    rationale: str


class RecordOutcome(BaseModel):
    """After a rollout: what the revision did to this workload (learning's result)."""

    template: Annotated[str, Field(min_length=1, max_length=253)]
    revision: Annotated[str, Field(min_length=1, max_length=253)]
    outcome: Outcome
    note: Annotated[str, Field(max_length=2048)] = ""


# -- handlers --------------------------------------------------------------------------

def get_workload_profile(ws: Workspace, args: GetWorkloadProfile) -> ProfileView:
    return ProfileView(profile=ws.profile, pods=ws.pods if args.details else [])


def describe_workload(ws: Workspace, args: DescribeWorkload) -> Done:
    goals = "; ".join(args.goals)
    ws.profile = ws.profile.model_copy(update={"description": f"{args.description} Goals: {goals}"[:2000] if goals else args.description})
    return Done(message="recorded")


def search_repository(ws: Workspace, args: SearchRepository) -> SearchResult:
    ranked = ws.repository.search(ws.profile, args.query, args.limit)
    return SearchResult(
        ranked=[RankedTemplate(name=r.name, score=round(r.score, 3), reasons=r.reasons,
                               description=ws.repository.get(r.name).spec.description) for r in ranked],
        anti_patterns=ws.repository.anti_patterns(ws.profile),
    )


def _entry(ws: Workspace, name: str) -> RepositoryEntry:
    try:
        return ws.repository.get(name)
    except KeyError as missing:
        raise ToolError(f"no template {name!r}; known: {', '.join(ws.repository.names())}") from missing


def read_template(ws: Workspace, args: ReadTemplate) -> TemplateView:
    spec = _entry(ws, args.name).spec
    return TemplateView(
        name=args.name, description=spec.description, algorithm=spec.algorithm, use_cases=spec.use_cases,
        limitations=spec.limitations, tunables=spec.tunables, binary=spec.source.binary,
        source=spec.source.code if args.include_source else None,
    )


def _patchable(ws: Workspace, template: str) -> None:
    if _entry(ws, template).spec.source.binary:
        raise ToolError(f"{template} is a scheduler binary: it can be configured (its tunables), not patched")


def decide_plan(ws: Workspace, args: PlanDecision) -> Done:
    if args.action != Action.SYNTHESIZE:
        if not args.template:
            raise ToolError(f"action {args.action} needs a template")
        _entry(ws, args.template)
    if args.action == Action.PATCH and args.template:
        _patchable(ws, args.template)
    ws.plan = args
    return Done(message=f"plan: {args.action} {args.template or ''}".strip())


def _checked_tunables(ws: Workspace, template: str, tunables: dict[str, int]) -> dict[str, int]:
    declared = {t.name: t for t in _entry(ws, template).spec.tunables}
    unknown = sorted(set(tunables) - set(declared))
    if unknown:
        raise ToolError(f"{template} has no tunables {unknown}; it declares {sorted(declared)}")
    problems = []
    for name, value in tunables.items():
        try:
            declared[name].check(value)
        except ValueError as error:
            problems.append(str(error))
    if problems:
        raise ToolError("; ".join(problems))
    return {**{n: t.default for n, t in declared.items()}, **tunables}


def propose_configuration(ws: Workspace, args: ProposeConfiguration) -> CandidateView:
    tunables = _checked_tunables(ws, args.template, args.tunables)
    ws.candidate = Candidate(origin=Origin.CONFIGURED, template=args.template, tunables=tunables,
                             source=_entry(ws, args.template).spec.configured(tunables).text())
    ws.report = None
    return _view(ws.candidate)


def submit_source(ws: Workspace, args: SubmitSource) -> CandidateView:
    if args.based_on:
        _patchable(ws, args.based_on)
    ws.candidate = Candidate(origin=Origin.SUBMITTED, template=args.based_on, tunables=args.tunables, source=args.source)
    ws.report = None
    return _view(ws.candidate)


def _view(candidate: Candidate) -> CandidateView:
    return CandidateView(origin=candidate.origin, template=candidate.template, tunables=candidate.tunables,
                         source_bytes=len(candidate.source.encode()))


def run_verifier(ws: Workspace, args: RunVerifier) -> VerificationReport:
    if ws.candidate is None:
        raise ToolError("nothing to verify: propose a configuration or submit source first")
    tunables = ",".join(f"{k}={v}" for k, v in sorted(ws.candidate.tunables.items()))
    ws.progress(f"verifying {ws.candidate.template or 'submitted source'}{f' [{tunables}]' if tunables else ''}"
                f"{' in a micro-VM' if args.dynamic else ''}")
    ws.report = ws.verifier(ws.candidate.source, ws.candidate.tunables, args.dynamic)
    if ws.goal and args.dynamic:
        ws.tried.append(_tried(ws.candidate, ws.report))
    return ws.report


def _tried(candidate: Candidate, report: VerificationReport) -> TriedDesign:
    judgement = report.performance
    if not report.safe or judgement is None:
        return TriedDesign(template=candidate.template, tunables=candidate.tunables, verdict=CandidateVerdict.UNSAFE)
    measure = judgement.measure
    return TriedDesign(template=candidate.template, tunables=candidate.tunables, verdict=judgement.verdict,
                       metric=f"{measure.workload} {measure.metric}", baseline=measure.baseline,
                       candidate=measure.candidate)


def finish(ws: Workspace, args: Finish) -> DesignOutcome:
    if ws.candidate is None or ws.report is None:
        raise ToolError("finish needs a candidate that the verifier has run on")
    if ws.report.not_better:
        assert ws.report.performance is not None
        raise ToolError(f"the candidate is safe but not better than the kernel's default scheduler: "
                        f"{summary(ws.report.performance)}; try another template, tunables or source")
    if not ws.report.passed or not ws.report.safe:
        raise ToolError("the candidate has not passed all verifier stages; repair it or choose another")
    ws.result = DesignOutcome(candidate=ws.candidate, report=ws.report, rationale=args.rationale)
    return ws.result


def record_outcome(ws: Workspace, args: RecordOutcome) -> Done:
    _entry(ws, args.template)
    ws.outcome = args
    return Done(message=f"{args.outcome} recorded for {args.template}")


@dataclass(frozen=True)
class Tool(Generic[In, Out]):
    name: str
    input_model: type[In]
    handler: Callable[[Workspace, In], Out]
    terminal: bool = False

    @property
    def description(self) -> str:
        return (self.input_model.__doc__ or self.name).strip()

    def input_schema(self) -> dict[str, Any]:
        schema = self.input_model.model_json_schema()
        schema.pop("title", None)
        schema.pop("description", None)
        return schema

    def call(self, ws: Workspace, raw: dict[str, Any]) -> BaseModel:
        """Validate raw input (pydantic's ValidationError propagates) and run the handler."""
        return self.handler(ws, self.input_model.model_validate(raw))


TOOLS: dict[str, Tool[Any, Any]] = {
    tool.name: tool
    for tool in (
        Tool(name="get_workload_profile", input_model=GetWorkloadProfile, handler=get_workload_profile),
        Tool(name="describe_workload", input_model=DescribeWorkload, handler=describe_workload, terminal=True),
        Tool(name="search_repository", input_model=SearchRepository, handler=search_repository),
        Tool(name="read_template", input_model=ReadTemplate, handler=read_template),
        Tool(name="decide_plan", input_model=PlanDecision, handler=decide_plan, terminal=True),
        Tool(name="propose_configuration", input_model=ProposeConfiguration, handler=propose_configuration),
        Tool(name="submit_source", input_model=SubmitSource, handler=submit_source),
        Tool(name="run_verifier", input_model=RunVerifier, handler=run_verifier),
        Tool(name="finish", input_model=Finish, handler=finish, terminal=True),
        Tool(name="record_outcome", input_model=RecordOutcome, handler=record_outcome, terminal=True),
    )
}
