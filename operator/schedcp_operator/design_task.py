"""One policy's design, run in a process of its own: from the selected pods' profile to a
SchedulerRevision, or to the reason there is none.

The process (`python -m schedcp_operator.design_task`, the task as JSON on stdin) is the
unit the operator can stop: killing its process group ends an LLM call in flight and,
through the parent-death signal its micro-VMs carry, their boot. Everything it learns
is in the design's journal: the inputs and every answered Messages API call (so a design
started again replays them instead of paying twice), its progress while it runs, and its
result. The lifecycle reads the progress and the result from there and writes nothing
back: it only observes. The design's candidate is verified on the verifier's kernel
inside the design, then on the other kernels its nodes run (fleet_kernels), before it
becomes a revision.

Exit status: 0 with the result in the journal, TRY_LATER when Claude was unreachable
(the progress says so), anything else a crash.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Callable

import anthropic
from kubernetes import client

from schedcp.api.v1alpha1.base import ObjectReference
from schedcp.api.v1alpha1.policy import ChosenRevision, DesignCost, DesignerKind, Reason
from schedcp.api.v1alpha1.revision import SchedulerRevisionSpec
from schedcp.api.v1alpha1.template import TemplateSource, parse_binary
from schedcp.verifying.fleet_kernels import NodeKernel, extend_to_fleet
from schedcp.verifying.verifier import Candidate
from schedcp_operator.design.claude import BudgetExhausted, ClaudeLoop, DesignError, DesignInterrupted, NoImprovement
from schedcp_operator.design.designer import DesignRecord, design_offline, design_with_claude
from schedcp_operator.design.journal import DesignJournal
from schedcp_operator.design.profile import performance_goal
from schedcp_operator.design.repository import Repository
from schedcp_operator.design.tools import Workspace
from schedcp_operator.design_exchange import (
    PROGRESS_KEY,
    RESULT_KEY,
    TRY_LATER,
    DesignProgress,
    DesignResult,
    DesignTask,
)
from schedcp_operator.kube import api_client
from schedcp_operator.revisions import Revisions, revision_name
from schedcp_operator.workload import observe_workload
from schedcp_operator.world import ApiWorld

log = logging.getLogger("schedcp.design")

def run_design(api: client.ApiClient, task: DesignTask) -> None:
    """Design, and record how it ended; DesignInterrupted propagates (try again later)."""
    journal = task.journal(api)
    if journal.read(RESULT_KEY, DesignResult) is not None:
        return  # ended before its process was stopped; the lifecycle has yet to take it up

    def report(message: str) -> None:
        journal.keep(PROGRESS_KEY, DesignProgress(message=message))

    report(f"designing with {task.spec.designer.kind}")
    try:
        record = _design(api, task, journal, report)
    except DesignInterrupted as error:
        journal.keep(PROGRESS_KEY, DesignProgress(reason=Reason.DESIGNER_UNREACHABLE,
                                                  message=f"{error}; the design resumes from its journal"))
        raise
    except NoImprovement as error:
        journal.keep(RESULT_KEY, DesignResult(reason=Reason.NO_IMPROVEMENT, message=str(error), tried=error.tried[-16:]))
        return
    except DesignError as error:
        journal.keep(RESULT_KEY, DesignResult(
            reason=Reason.BUDGET_EXHAUSTED if isinstance(error, BudgetExhausted) else Reason.DESIGN_FAILED, message=str(error)))
        return
    _on_fleet_kernels(api, task, record, report)
    journal.keep(RESULT_KEY, _publish(api, task, record))


def _on_fleet_kernels(api: client.ApiClient, task: DesignTask, record: DesignRecord, report: Callable[[str], None]) -> None:
    """The design's report, extended to every kernel the policy's nodes run: a kernel that
    refuses it fails the revision's verification, naming that kernel."""
    workload = observe_workload(ApiWorld(api), task.namespace, task.spec)
    nodes = [NodeKernel(k.release, k.btf_sha256) for k in workload.kernels()]
    chosen = record.outcome.candidate
    report(f"verifying {chosen.template or 'the design'} on the kernels of {len(workload.hosts())} node(s): "
           f"{', '.join(sorted({n.release for n in nodes})) or 'none reported'}")
    extend_to_fleet([Candidate(chosen.template or "design", chosen.source, chosen.tunables)], [record.outcome.report], nodes)


def _design(api: client.ApiClient, task: DesignTask, journal: DesignJournal, report: Callable[[str], None]) -> DesignRecord:
    spec = task.spec
    inputs = journal.inputs()
    if inputs is None:
        profile, pods = observe_workload(ApiWorld(api), task.namespace, spec).design_profile(spec)
        journal.keep_inputs(profile, pods)
    else:
        profile, pods = inputs
    ws = Workspace(profile, Repository.load(api), pods, goal=performance_goal(profile), progress=report)
    if spec.designer.kind == DesignerKind.OFFLINE:
        return design_offline(ws)
    loop = ClaudeLoop(anthropic.Anthropic(), spec.designer.model, spec.designer.budget, spec.designer.max_repairs,
                      journal=journal)
    return design_with_claude(loop, ws)


def _revision_spec(policy: ObjectReference, record: DesignRecord) -> SchedulerRevisionSpec:
    candidate = record.outcome.candidate
    digest = hashlib.sha256(candidate.source.encode()).hexdigest()
    binary = parse_binary(candidate.source)
    source = TemplateSource(binary=binary, sha256=digest) if binary else TemplateSource(code=candidate.source, sha256=digest)
    return SchedulerRevisionSpec(policy_ref=policy, template=candidate.template, source=source,
                                 tunables=candidate.tunables, provenance=record.provenance())


def _publish(api: client.ApiClient, task: DesignTask, record: DesignRecord) -> DesignResult:
    """The verified design as an immutable SchedulerRevision; the result names it."""
    report = record.outcome.report
    assert report.object_sha256, "a verified design has an object digest"
    name = revision_name(task.name, report.object_sha256)
    Revisions(api, task.artifacts_namespace).create(name, _revision_spec(task.ref, record), report)
    candidate = record.outcome.candidate
    spend = record.spend
    return DesignResult(
        reason=Reason.DESIGNED,
        message=(f"{record.designer} designed revision {name} from {candidate.template or 'new source'}: "
                 f"{record.outcome.rationale}"),
        revision=ChosenRevision(name=name, sha256=report.object_sha256, template=candidate.template,
                                rationale=record.outcome.rationale[:8192]),
        cost=DesignCost(calls=spend.calls, input_tokens=spend.input_tokens + spend.cache_read_tokens
                        + spend.cache_write_tokens, output_tokens=spend.output_tokens, usd=f"{spend.usd:.6f}"))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    task = DesignTask.model_validate_json(sys.stdin.read())
    log.info("design of %s/%s (spec %s) started", task.namespace, task.name, task.spec_digest[:12])
    try:
        run_design(api_client(), task)
    except DesignInterrupted as error:
        log.warning("design of %s/%s interrupted: %s", task.namespace, task.name, error)
        return TRY_LATER
    log.info("design of %s/%s ended", task.namespace, task.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
