"""What one design costs: LLM calls, tokens, USD and wall time, verification split out.

    python -m benchmarks.design_loop [--model claude-sonnet-5-5] [--cold]
    python -m benchmarks.design_loop --live --workloads FILE [--model claude-sonnet-5-5]

Three designers on the same Workload Profile (latency pods next to batch pods):

- the offline planner (no LLM);
- the scripted Claude repository hit (observation, planning, execution: 3 calls);
- the scripted Claude synthesis with one repair (4 calls: the first source does not
  compile, the verifier's report goes back, the second passes).

Claude's side is the local Messages API server of the tests (tests/messages_api), so
the real anthropic SDK, the real prompts and tool schemas are sent, and the scripts are
those of tests/design/test_claude_loop.py. Token counts are the server's estimate from
request sizes (4 characters a token; the stable prefix counts as a cache write the first
time and a read after); output tokens are those of the scripted replies, shorter than a
real model's. USD at list prices (operator/schedcp_operator/design/pricing.py).

Verification is real and timed on its own (a wrapper around the Workspace's verifier).
Reports are remembered on disk (schedcp/verifying/cache.py): every design runs twice,
"cold" then "warm". Cold means: whatever the shared cache did not hold was verified in
one micro-VM boot for all candidates together (its wall time is reported, per design its
share); with --cold the cache is a fresh directory, so everything boots. Warm: every
report comes from the cache. Results: stdout and benchmarks/results/design_loop.md.

`--live` runs the Claude designer (the operator's code: ClaudeLoop, the roles' prompts and
the tools' schemas as `claude.role_request` builds them) on each labelled workload of FILE
(YAML: objective, traits, goal, expected; by default benchmarks/design_loop_workloads.yaml,
one per project template; tests/design/labelled_workloads.yaml has all 19) and
prints per workload: calls, tokens, USD, wall time, the choice, whether it passed the
verifier and how many repairs it took. With ANTHROPIC_API_KEY set it talks to the real
API (or ANTHROPIC_BASE_URL); without one, to the local Messages API server, scripted to
make each workload's labelled choice in three calls, so the same columns fill from the
same code path. The labelled workloads carry no measured profile, so there is no
performance gate: the verifier judges safety (a micro-VM run). What the cache lacks of the
scripted choices is verified in one boot first; a live run boots for each new candidate.
Results: stdout and benchmarks/results/design_loop_live.md (scripted) or
design_loop_live-api.md (a real API run).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from benchmarks.reporting import markdown_table, write_result

DEFAULT_MODEL = "claude-sonnet-5-5"
# DESIGN.md: a repository hit in at most 3 calls; synthesis within 12 calls and 0.50 USD.
TARGETS = {"offline planner": "0 calls", "Claude: repository hit": "≤ 3 calls",
           "Claude: synthesis, one repair": "≤ 12 calls, < 0.50 USD"}


@dataclass
class TimedVerifier:
    """The Workspace's verifier, remembered in `directory`, with each call's time kept."""

    directory: Path
    calls: list[tuple[float, str, bool]] = field(default_factory=list)  # (seconds, report key, from the cache)

    def __call__(self, source: str, tunables: dict[str, int], dynamic: bool = True):
        from schedcp.provisioning.kernel import provision_kernel
        from schedcp.verifying.cache import report_key, verify_remembered

        key = report_key(source, tunables, dynamic, provision_kernel().release)
        cached = (self.directory / f"{key}.json").exists()
        started = time.monotonic()
        report = verify_remembered(source, tunables, dynamic, directory=self.directory)
        self.calls.append((time.monotonic() - started, key, cached))
        return report


@dataclass
class Row:
    designer: str
    temperature: str  # cold | warm
    calls: int
    input_tokens: int
    cache_write: int
    cache_read: int
    output_tokens: int
    usd: Decimal
    wall: float
    verification: float
    verifications: int
    remembered: int
    chosen: str


def profile():
    from schedcp.api.v1alpha1.policy import ObjectiveKind
    from schedcp_operator.design.profile import Trait, WorkloadProfile

    return WorkloadProfile(objective=ObjectiveKind.LATENCY, traits=[Trait.LATENCY_SENSITIVE, Trait.MIXED_LOAD],
                           goal="keep checkout p99 low next to the nightly reports", protected_pods=3, other_pods=2)


def questions() -> list[tuple[str, str, dict[str, int]]]:
    """What the three designs will ask the verifier: (label, source, tunables)."""
    from schedcp_operator.design.offline import choose
    from schedcp_operator.design.repository import Repository
    from tests.design.test_claude_loop import CONFIGURED, SYNTHESIZED

    repository = Repository.from_builtins()
    choice = choose(profile())

    def configured(template: str, tunables: dict[str, int]) -> tuple[str, str, dict[str, int]]:
        spec = repository.get(template).spec
        return template, spec.source.code, {**{t.name: t.default for t in spec.tunables}, **tunables}

    return [configured(choice.template, dict(choice.tunables)), configured("latency-class", CONFIGURED),
            ("synth", SYNTHESIZED, {})]


def prewarm(directory: Path, asked: list[tuple[str, str, dict[str, int]]] | None = None) -> tuple[float, set[str]]:
    """Verify what the cache lacks of `asked` (default: the three designs' questions) in one
    boot and remember it; (seconds, report keys verified)."""
    from schedcp.provisioning.kernel import provision_kernel
    from schedcp.verifying.cache import report_key
    from schedcp.verifying.verifier import Candidate, verify_all

    release = provision_kernel().release
    missing = [(label, source, tunables) for label, source, tunables in (questions() if asked is None else asked)
               if not (directory / f"{report_key(source, tunables, True, release)}.json").exists()]
    if not missing:
        return 0.0, set()
    started = time.monotonic()
    reports = verify_all([Candidate(label, source, tunables) for label, source, tunables in missing])
    seconds = time.monotonic() - started
    directory.mkdir(parents=True, exist_ok=True)
    keys = set()
    for (_, source, tunables), report in zip(missing, reports, strict=True):
        key = report_key(source, tunables, True, release)
        keys.add(key)
        # As the cache does: a pass is deterministic; a VM that timed out says nothing.
        if report.passed:
            (directory / f"{key}.json").write_text(report.model_dump_json())
    return seconds, keys


def offline(verifier: TimedVerifier) -> tuple[object, None]:
    from schedcp_operator.design.designer import design_offline
    from schedcp_operator.design.repository import Repository
    from schedcp_operator.design.tools import Workspace

    return design_offline(Workspace(profile(), Repository.from_builtins(), verifier=verifier)), None


def scripted(turns: Callable[[], list], verifier: TimedVerifier, model: str, server_factory: Callable):
    from schedcp.api.v1alpha1.policy import Budget
    from schedcp_operator.design.claude import ClaudeLoop
    from schedcp_operator.design.designer import design_with_claude
    from schedcp_operator.design.repository import Repository
    from schedcp_operator.design.tools import Workspace

    with server_factory() as server:
        server.script(*turns())
        loop = ClaudeLoop(server.client(), model, Budget())
        record = design_with_claude(loop, Workspace(profile(), Repository.from_builtins(), verifier=verifier))
        server.assert_done()
    return record, loop.spend


def hit_turns() -> list:
    from schedcp_operator.design.roles import EXECUTION, PLANNING
    from tests.design.test_claude_loop import CONFIGURED, observation_turn
    from tests.messages_api.server import Expect, Reply, Turn, call

    return [
        observation_turn(),
        Turn(expect=Expect(tools=set(PLANNING.tools)),
             reply=Reply(tool_calls=[call("decide_plan", action="configure", template="latency-class",
                                          reason="ranked first: protects the web cgroups with preemption")])),
        Turn(expect=Expect(tools=set(EXECUTION.tools)),
             reply=Reply(tool_calls=[call("propose_configuration", template="latency-class", tunables=CONFIGURED),
                                     call("run_verifier"), call("finish", rationale="latency class for the web pods")])),
    ]


def synthesis_turns() -> list:
    from schedcp_operator.design.roles import EXECUTION, PLANNING
    from tests.design.test_claude_loop import BROKEN, SYNTHESIZED, observation_turn
    from tests.messages_api.server import Expect, Reply, Turn, call

    return [
        observation_turn(),
        Turn(expect=Expect(tools=set(PLANNING.tools)),
             reply=Reply(tool_calls=[call("decide_plan", action="synthesize", reason="try a minimal short-slice queue")])),
        Turn(expect=Expect(tools=set(EXECUTION.tools)),
             reply=Reply(tool_calls=[call("submit_source", source=BROKEN), call("run_verifier")])),
        Turn(expect=Expect(tools=set(EXECUTION.tools), tool_results=True, tool_result_contains="SCHEDCP_USECS"),
             reply=Reply(tool_calls=[call("submit_source", source=SYNTHESIZED), call("run_verifier"),
                                     call("finish", rationale="a short-slice global queue")])),
    ]


def measure(designer: str, temperature: str, directory: Path, model: str, booted: set[str], share: float) -> Row:
    """One design; in the cold pass, the candidates the prewarm boot verified count as booted, with their share."""
    from tests.messages_api.server import start_messages_server

    verifier = TimedVerifier(directory)
    started = time.monotonic()
    if designer == "offline planner":
        record, spend = offline(verifier)
    else:
        turns = hit_turns if designer == "Claude: repository hit" else synthesis_turns
        record, spend = scripted(turns, verifier, model, start_messages_server)
    wall = time.monotonic() - started
    candidate = record.outcome.candidate
    chosen = candidate.template or f"synthesized ({record.outcome.report.ops_name})"
    cold_keys = {key for _, key, _ in verifier.calls if temperature == "cold" and key in booted}
    remembered = sum(1 for _, key, cached in verifier.calls if cached and key not in cold_keys)
    verification = sum(s for s, _, _ in verifier.calls) + share * len(cold_keys)
    wall += share * len(cold_keys)
    calls = (spend.calls, spend.input_tokens, spend.cache_write_tokens, spend.cache_read_tokens, spend.output_tokens,
             spend.usd) if spend else (0, 0, 0, 0, 0, Decimal(0))
    return Row(designer, temperature, *calls, wall, verification, len(verifier.calls), remembered, chosen)


def table(rows: list[Row]) -> str:
    headers = ["designer", "cache", "LLM calls", "tokens in / cache-write / cache-read / out", "USD (list)",
               "wall s", "of which verification s", "verifier calls (remembered)", "LLM + tools s", "chose", "target"]
    body = [[r.designer, r.temperature, r.calls, f"{r.input_tokens:,} / {r.cache_write:,} / {r.cache_read:,} / {r.output_tokens:,}",
             f"{r.usd:.4f}", f"{r.wall:.2f}", f"{r.verification:.2f}", f"{r.verifications} ({r.remembered})",
             f"{r.wall - r.verification:.2f}", r.chosen, TARGETS[r.designer]] for r in rows]
    return markdown_table(headers, body)


# -- live: the Claude designer on labelled workloads ----------------------------------------

@dataclass
class LiveRow:
    workload: str
    expected: str
    calls: int
    input_tokens: int  # cache writes and reads included
    output_tokens: int
    usd: Decimal
    wall: float
    choice: str
    passed: bool
    repairs: int


def labelled(path: Path) -> list[dict]:
    import yaml

    return list(yaml.safe_load(path.read_text()))


def workload_profile(case: dict):
    from schedcp_operator.design.profile import WorkloadProfile

    return WorkloadProfile(objective=case["objective"], traits=case["traits"], goal=case["goal"])


def configured_question(template: str) -> tuple[str, str, dict[str, int]]:
    """What configuring `template` with its defaults asks the verifier."""
    from schedcp_operator.design.repository import Repository

    spec = Repository.from_builtins().get(template).spec
    tunables = {t.name: t.default for t in spec.tunables}
    return template, spec.configured(tunables).text(), tunables


def labelled_turns(case: dict) -> list:
    """A repository hit on the labelled choice, as a model would make it: three calls."""
    from schedcp_operator.design.roles import EXECUTION, OBSERVATION, PLANNING
    from tests.messages_api.server import Expect, Reply, Turn, call

    template = case["expected"]
    return [
        Turn(expect=Expect(tools=set(OBSERVATION.tools)),
             reply=Reply(tool_calls=[call("describe_workload", description=case["goal"], goals=[case["goal"]])])),
        Turn(expect=Expect(tools=set(PLANNING.tools)),
             reply=Reply(tool_calls=[call("decide_plan", action="configure", template=template,
                                          reason=f"the repository's ranking fits {case['objective']}")])),
        Turn(expect=Expect(tools=set(EXECUTION.tools)),
             reply=Reply(tool_calls=[call("propose_configuration", template=template), call("run_verifier"),
                                     call("finish", rationale=f"{template} for {case['goal']}")])),
    ]


def design_live(case: dict, client, model: str, verifier: Callable) -> LiveRow:
    from schedcp.api.v1alpha1.policy import Budget
    from schedcp_operator.design.claude import ClaudeLoop, DesignError
    from schedcp_operator.design.designer import design_with_claude
    from schedcp_operator.design.repository import Repository
    from schedcp_operator.design.tools import Workspace

    loop = ClaudeLoop(client, model, Budget())
    ws = Workspace(workload_profile(case), Repository.from_builtins(), verifier=verifier)
    started = time.monotonic()
    try:
        record = design_with_claude(loop, ws)
        choice, passed = record.outcome.candidate.template or "synthesized", record.outcome.report.passed
    except DesignError as error:
        choice, passed = f"none: {str(error)[:80]}", False
    spend = loop.spend
    return LiveRow(case["goal"][:60], case["expected"], spend.calls,
                   spend.input_tokens + spend.cache_write_tokens + spend.cache_read_tokens, spend.output_tokens,
                   spend.usd, time.monotonic() - started, choice, passed, loop.repairs)


def live_table(rows: list[LiveRow]) -> str:
    headers = ["workload", "labelled", "calls", "tokens in / out", "USD (list)", "wall s", "choice", "verifier",
               "repairs"]
    body = [[r.workload, r.expected, r.calls, f"{r.input_tokens:,} / {r.output_tokens:,}", f"{r.usd:.4f}",
             f"{r.wall:.2f}", r.choice + ("" if r.choice == r.expected else " ≠"), "passed" if r.passed else "failed",
             r.repairs] for r in rows]
    total = [f"{len(rows)} workloads", f"{sum(r.choice == r.expected for r in rows)} chosen as labelled",
             sum(r.calls for r in rows), f"{sum(r.input_tokens for r in rows):,} / {sum(r.output_tokens for r in rows):,}",
             f"{sum((r.usd for r in rows), Decimal(0)):.4f}", f"{sum(r.wall for r in rows):.2f}", "",
             f"{sum(r.passed for r in rows)} passed", sum(r.repairs for r in rows)]
    return markdown_table(headers, [*body, total])


def run_live(workloads: Path, model: str) -> None:
    from anthropic import Anthropic

    from schedcp.cache import cache_root
    from tests.messages_api.server import start_messages_server

    cases = labelled(workloads)
    directory = cache_root() / "verified"
    real = bool(os.environ.get("ANTHROPIC_API_KEY"))
    with ExitStack() as stack:
        if real:
            client, where = Anthropic(), os.environ.get("ANTHROPIC_BASE_URL") or "the Anthropic API"
            boot = ""
        else:
            server = stack.enter_context(start_messages_server())
            server.script(*(turn for case in cases for turn in labelled_turns(case)))
            client, where = server.client(), "the local Messages API server, scripted (no ANTHROPIC_API_KEY)"
            seconds, booted = prewarm(directory, [configured_question(t) for t in sorted({c["expected"] for c in cases})])
            boot = (f" The {len(booted)} choice(s) the verification cache lacked were verified first in one micro-VM "
                    f"boot of {seconds:.1f} s, not counted in the rows." if booted else
                    " Every choice's report was in the verification cache.")
        rows = [design_live(case, client, model, TimedVerifier(directory)) for case in cases]
        if not real:
            server.assert_done()
    command = "python -m benchmarks.design_loop " + " ".join(sys.argv[1:])
    mode = "live API" if real else "scripted, local Messages API server"
    text = (f"Design loop, live mode ({mode}), {date.today().isoformat()}: `{command}`\n\n"
            f"The Claude designer on {len(cases)} labelled workloads of {workloads.name}, model {model} at list "
            f"prices, against {where}.{boot} Safety verification only (the workloads carry no measured profile "
            f"for the performance gate)." + ("" if real else " Tokens are the local server's estimate from request "
            "sizes; the scripted replies are short, so output tokens are a floor.") + "\n\n" + live_table(rows))
    print(text)
    print(f"\nwritten: {write_result('design_loop_live-api.md' if real else 'design_loop_live.md', text)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="priced from pricing.py; the local server answers any")
    parser.add_argument("--cold", action="store_true", help="a fresh verification cache: every candidate boots")
    parser.add_argument("--live", action="store_true",
                        help="the Claude designer on each workload of --workloads (the real API with ANTHROPIC_API_KEY)")
    parser.add_argument("--workloads", type=Path, default=Path(__file__).with_name("design_loop_workloads.yaml"),
                        help="labelled workloads (YAML) for --live; tests/design/labelled_workloads.yaml has all 19")
    args = parser.parse_args()
    if args.live:
        run_live(args.workloads, args.model)
        return
    from schedcp.cache import cache_root

    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="schedcp-verified-"))) if args.cold \
            else cache_root() / "verified"
        boot_seconds, booted = prewarm(directory)
        share = boot_seconds / len(booted) if booted else 0.0
        rows = [measure(designer, temperature, directory, args.model, booted, share)
                for temperature in ("cold", "warm") for designer in TARGETS]
    cold_note = (f"cold: the {len(booted)} candidate(s) the cache lacked were verified together in one micro-VM boot "
                 f"of {boot_seconds:.1f} s; each cold row that asked for one of them is charged {share:.1f} s per "
                 f"candidate (in wall and verification time) and does not count it as remembered; " if booted else
                 "cold: every report was already remembered on disk before this run (an earlier run or the tests "
                 "verified them), so the cold rows are warm too; run with --cold for a fresh cache; ")
    text = (f"Design loop cost per design, model {args.model} at list prices. Tokens are the local Messages API "
            f"server's estimate from request sizes (the scripted replies are short, so output tokens are a floor). "
            f"{cold_note}warm: every report from the on-disk cache. \"LLM + tools\" is wall time minus verification. "
            f"SchedCP (the paper) needed 221 calls and about 6 USD for a naive FIFO.\n\n" + table(rows))
    print(text)
    print(f"\nwritten: {write_result('design_loop.md', text)}")


if __name__ == "__main__":
    main()
