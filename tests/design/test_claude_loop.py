"""The Claude design loop through the real anthropic SDK and a local Messages API server.

Each test scripts what Claude says and asserts what the loop sends: every role is offered
exactly its own tools, tool results answer every call, the stable prefix is cached. The
candidates' verification is real: the two configurations that pass are verified in one
micro-VM boot up front; the broken one fails the static stage without a boot.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from schedcp.api.v1alpha1.policy import Budget, CandidateVerdict, ObjectiveKind
from schedcp.api.v1alpha1.revision import VerificationReport
from schedcp.verifying.verifier import Candidate, verify, verify_all
from schedcp_operator.design.claude import BudgetExhausted, ClaudeLoop, NoImprovement
from schedcp_operator.design.designer import design_with_claude, learn_with_claude
from schedcp_operator.design.profile import Trait, WorkloadProfile
from schedcp_operator.design.repository import Repository
from schedcp_operator.design.roles import EXECUTION, LEARNING, OBSERVATION, PLANNING
from schedcp_operator.design.tools import Action, PlanDecision, Workspace
from tests.design.gate_stub import GOAL, slower_than_eevdf
from tests.messages_api.server import Expect, Failure, Reply, Turn, call

MODEL = "claude-sonnet-5-5"
SYNTHESIZED = """/* SPDX-License-Identifier: GPL-2.0 */
/* A global queue with a short slice: what an LLM might write for a latency goal. */
#include "schedcp.bpf.h"

void SCHEDCP_OPS(synth_enqueue, struct task_struct *p, u64 enq_flags)
{
	schedcp_insert(p, SCX_DSQ_GLOBAL, 2000 * SCHEDCP_USEC, enq_flags);
}

SEC(".struct_ops.link")
struct sched_ext_ops synth_ops = {
	.enqueue = (void *)synth_enqueue,
	.name = "schedcp_synth",
};
"""
BROKEN = SYNTHESIZED.replace("2000 * SCHEDCP_USEC", "2000 * SCHEDCP_USECS")
CONFIGURED = {"latency_slice_us": 500}


def tools_of(role) -> set[str]:
    return set(role.tools)


@pytest.fixture(scope="module")
def repository() -> Repository:
    return Repository.from_builtins()


@pytest.fixture(scope="module")
def verifier(repository):
    """Real reports: the passing candidates from one boot, anything else verified on demand."""
    spec = repository.get("latency-class").spec
    tunables = {**{t.name: t.default for t in spec.tunables}, **CONFIGURED}
    wanted = {(spec.source.code, tuple(sorted(tunables.items()))): Candidate("latency-class", spec.source.code, tunables),
              (SYNTHESIZED, ()): Candidate("synth", SYNTHESIZED)}
    booted = dict(zip(wanted, verify_all(list(wanted.values())), strict=True))
    for report in booted.values():
        assert report.passed, [(s.name, s.result, s.message, s.log[-2000:]) for s in report.stages]

    def lookup(source: str, tunables: dict[str, int], dynamic: bool) -> VerificationReport:
        key = (source, tuple(sorted(tunables.items())))
        return booted[key] if key in booted else verify(source, tunables, dynamic=dynamic)

    return lookup


def workspace(repository, verifier) -> Workspace:
    profile = WorkloadProfile(objective=ObjectiveKind.LATENCY, traits=[Trait.LATENCY_SENSITIVE, Trait.MIXED_LOAD],
                              goal="keep checkout p99 low next to the nightly reports", protected_pods=3, other_pods=2)
    return Workspace(profile, repository, verifier=verifier)


def observation_turn() -> Turn:
    return Turn(expect=Expect(tools=tools_of(OBSERVATION), cache_control=True, user_contains="mixed-load"),
                reply=Reply(tool_calls=[call("describe_workload", description="Wake-heavy web pods next to CPU-bound batch.",
                                             goals=["lower p99 of the web pods", "batch may lose 10%"])]))


def report_spend(path: str, loop: ClaudeLoop) -> None:
    spend = loop.spend
    print(f"\n{path}: {spend.calls} calls, {spend.input_tokens} input + {spend.cache_write_tokens} cache-write + "
          f"{spend.cache_read_tokens} cache-read + {spend.output_tokens} output tokens, {spend.usd:.4f} USD ({MODEL})")


@pytest.mark.vm
def test_a_repository_hit_takes_three_calls(messages_api, repository, verifier) -> None:
    messages_api.script(
        observation_turn(),
        Turn(expect=Expect(tools=tools_of(PLANNING), cache_control=True, user_contains="latency-class"),
             reply=Reply(tool_calls=[call("decide_plan", action="configure", template="latency-class",
                                          reason="ranked first: protects the web cgroups with preemption")])),
        Turn(expect=Expect(tools=tools_of(EXECUTION), cache_control=True, user_contains='"template": "latency-class"'),
             reply=Reply(tool_calls=[call("propose_configuration", template="latency-class", tunables=CONFIGURED),
                                     call("run_verifier"), call("finish", rationale="latency class for the web pods")])),
    )
    loop = ClaudeLoop(messages_api.client(), MODEL, Budget())
    record = design_with_claude(loop, workspace(repository, verifier))
    messages_api.assert_done()
    assert record.outcome.candidate.template == "latency-class"
    assert record.outcome.candidate.tunables["latency_slice_us"] == 500
    assert record.outcome.report.passed and loop.spend.calls == 3
    assert record.provenance().calls == 3 and Decimal(record.provenance().cost_usd) > 0
    report_spend("repository hit", loop)


@pytest.mark.vm
def test_synthesized_code_is_repaired_from_the_verifier_report(messages_api, repository, verifier) -> None:
    messages_api.script(
        observation_turn(),
        Turn(expect=Expect(tools=tools_of(PLANNING)),
             reply=Reply(tool_calls=[call("decide_plan", action="synthesize", reason="try a minimal short-slice queue")])),
        Turn(expect=Expect(tools=tools_of(EXECUTION), user_contains="synthesize"),
             reply=Reply(tool_calls=[call("submit_source", source=BROKEN), call("run_verifier")])),
        Turn(expect=Expect(tools=tools_of(EXECUTION), tool_results=True, tool_result_contains="SCHEDCP_USECS"),
             reply=Reply(tool_calls=[call("submit_source", source=SYNTHESIZED), call("run_verifier"),
                                     call("finish", rationale="a short-slice global queue")])),
    )
    loop = ClaudeLoop(messages_api.client(), MODEL, Budget())
    record = design_with_claude(loop, workspace(repository, verifier))
    messages_api.assert_done()
    assert record.outcome.candidate.source == SYNTHESIZED and record.outcome.report.ops_name == "schedcp_synth"
    assert record.outcome.report.passed and loop.spend.calls == 4
    report_spend("synthesis with one repair", loop)


def test_a_budget_that_runs_out_stops_with_a_clear_reason(messages_api, repository) -> None:
    messages_api.script(
        observation_turn(),
        Turn(expect=Expect(tools=tools_of(PLANNING)), reply=Reply(tool_calls=[call("search_repository", query="web")])),
    )
    ws = workspace(repository, verifier=None)
    loop = ClaudeLoop(messages_api.client(), MODEL, Budget(max_calls=2))
    with pytest.raises(BudgetExhausted, match="calls 2 of 2"):
        design_with_claude(loop, ws)
    messages_api.assert_done()
    assert ws.plan is None and ws.candidate is None and ws.result is None, "nothing half-written"


def test_a_429_is_retried_by_the_sdk_and_then_succeeds(messages_api, repository) -> None:
    messages_api.script(
        Turn(failure=Failure(status=429, error_type="rate_limit_error", message="slow down")),
        observation_turn(),
    )
    ws = workspace(repository, verifier=None)
    loop = ClaudeLoop(messages_api.client(max_retries=2), MODEL, Budget())
    loop.run(OBSERVATION, ws, {"profile": ws.profile.model_dump(mode="json")})
    messages_api.assert_done()
    assert len(messages_api.requests) == 2 and loop.spend.calls == 1
    assert ws.profile.description.startswith("Wake-heavy web pods")


def test_persistent_server_errors_end_in_a_clear_design_error(messages_api, repository) -> None:
    messages_api.script(*[Turn(failure=Failure(status=529, error_type="overloaded_error", message="overloaded"))] * 2)
    loop = ClaudeLoop(messages_api.client(max_retries=1), MODEL, Budget())
    with pytest.raises(Exception, match="Claude API error 529 in observation"):
        loop.run(OBSERVATION, workspace(repository, verifier=None), {})
    messages_api.assert_done()


@pytest.mark.vm
def test_malformed_and_out_of_range_tool_calls_get_their_errors_back(messages_api, repository, verifier) -> None:
    messages_api.script(
        Turn(expect=Expect(tools=tools_of(EXECUTION)),
             reply=Reply(tool_calls=[call("propose_configuration", template="latency-class", tunables={"latency_slice_us": "fast"})])),
        Turn(expect=Expect(tool_results=True, tool_error_contains="valid integer"),
             reply=Reply(tool_calls=[call("propose_configuration", template="latency-class", tunables={"latency_slice_us": 10**7})])),
        Turn(expect=Expect(tool_results=True, tool_error_contains="outside [100, 20000]"),
             reply=Reply(tool_calls=[call("propose_configuration", template="latency-class", tunables=CONFIGURED),
                                     call("run_verifier"), call("finish", rationale="fixed the tunable")])),
    )
    ws = workspace(repository, verifier)
    ws.plan = PlanDecision(action=Action.CONFIGURE, template="latency-class", reason="scripted")
    loop = ClaudeLoop(messages_api.client(), MODEL, Budget(), max_repairs=3)
    loop.run(EXECUTION, ws, {"plan": ws.plan.model_dump()})
    messages_api.assert_done()
    assert ws.result is not None and loop.spend.calls == 3


def test_a_tool_outside_the_role_is_refused(messages_api, repository) -> None:
    messages_api.script(
        Turn(reply=Reply(tool_calls=[call("run_verifier")])),
        Turn(expect=Expect(tool_error_contains="is not one of your tools"),
             reply=Reply(tool_calls=[call("decide_plan", action="configure", template="vtime", reason="fair")])),
    )
    ws = workspace(repository, verifier=None)
    ClaudeLoop(messages_api.client(), MODEL, Budget()).run(PLANNING, ws, {})
    messages_api.assert_done()
    assert ws.plan.template == "vtime" and ws.candidate is None


def test_learning_records_the_outcome(messages_api, repository) -> None:
    messages_api.script(
        Turn(expect=Expect(tools=tools_of(LEARNING), user_contains="metrics_before"),
             reply=Reply(tool_calls=[call("record_outcome", template="latency-class", revision="latency-class-1a2b",
                                          outcome="Improved", note="web p99 run delay -60%, batch -4%")])),
    )
    loop = ClaudeLoop(messages_api.client(), MODEL, Budget())
    ws = workspace(repository, verifier=None)
    recorded = learn_with_claude(loop, ws, "latency-class", "latency-class-1a2b", ws.profile.protected, ws.profile.protected)
    messages_api.assert_done()
    assert recorded.outcome == "Improved" and loop.spend.calls == 1


def test_candidates_that_are_safe_but_not_better_end_in_no_improvement(messages_api, repository) -> None:
    """finish refuses each with the gate's numbers; out of repairs, the design ends with the table."""
    messages_api.script(
        observation_turn(),
        Turn(reply=Reply(tool_calls=[call("decide_plan", action="configure", template="fifo", reason="least overhead")])),
        Turn(expect=Expect(tools=tools_of(EXECUTION), user_contains="performance_goal"),
             reply=Reply(tool_calls=[call("propose_configuration", template="fifo"), call("run_verifier"),
                                     call("finish", rationale="fifo")])),
        Turn(expect=Expect(tool_results=True, tool_error_contains="not better than the kernel's default scheduler"),
             reply=Reply(tool_calls=[call("propose_configuration", template="vtime"), call("run_verifier"),
                                     call("finish", rationale="fair")])),
    )
    profile = workspace(repository, None).profile
    ws = Workspace(profile, repository, verifier=slower_than_eevdf, goal=GOAL)
    with pytest.raises(NoImprovement) as ended:
        design_with_claude(ClaudeLoop(messages_api.client(), MODEL, Budget(), max_repairs=3), ws)
    messages_api.assert_done()
    assert [(t.template, t.verdict) for t in ended.value.tried] == [("fifo", CandidateVerdict.NOT_BETTER),
                                                                    ("vtime", CandidateVerdict.NOT_BETTER)]
    assert ws.result is None
