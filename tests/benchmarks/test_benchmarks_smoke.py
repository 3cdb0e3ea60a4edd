"""The benchmarks' pure parts: statistics, ratios, tables and parsing, with no VM or cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import design_loop, scheduling
from benchmarks.reporting import (
    Difference,
    Summary,
    difference,
    format_ratio,
    gain,
    markdown_table,
    parse_workload_output,
    ratio,
    summarize,
    write_result,
)
from benchmarks.scheduling import BASELINE, MEASURES, Scheduler, collect, failures, value_of
from tests.design.gate_stub import gated_report

pytestmark = pytest.mark.unit


def run(label: str, workload: str, result: dict, *, state: str = "enabled", rc: int = 0, round: int = 2,
        **extra) -> dict:
    """A measured round by default: round 1 is the warm-up."""
    return {"event": "run", "label": label, "round": round, "workload": workload, "rc": rc, "state": state,
            "ops": "", "result": result, **extra}


def test_summary_is_the_median_with_the_min_max_spread() -> None:
    assert summarize([3.0, 1.0, 2.0]) == Summary(median=2.0, low=1.0, high=3.0, count=3)
    assert summarize([4.0, 1.0]).median == 2.5
    assert summarize([None, 5.0]) == Summary(5.0, 5.0, 5.0, 1)
    assert summarize([]) is None and summarize([None]) is None


def test_a_cell_shows_the_spread_only_when_there_are_repeats() -> None:
    assert Summary(1234.4, 1200, 1300, 3).cell() == "1,234 (1,200–1,300)"
    assert Summary(2.0, 2.0, 2.0, 1).cell(1) == "2.0"


def test_the_ratio_is_of_medians_and_gain_points_the_right_way() -> None:
    base, faster = Summary(100, 90, 110, 3), Summary(50, 40, 60, 3)
    assert ratio(faster, base) == 0.5
    assert gain(0.5, lower_is_better=True) == 2.0 and gain(0.5, lower_is_better=False) == 0.5
    assert ratio(None, base) is None and ratio(faster, Summary(0, 0, 0, 1)) is None
    assert format_ratio(0.5) == "0.50x" and format_ratio(None) == "–"


def test_a_markdown_table_escapes_pipes_and_shows_missing_cells() -> None:
    text = markdown_table(["a", "b"], [["x|y", None], [1, 2.5]])
    assert text.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | – |", "| 1 | 2.5 |"]


def test_the_last_json_line_of_a_workload_is_its_result() -> None:
    out = 'warming up\n{"workload":"wakeup_latency","samples":10,"p50_us":85.7,"p99_us":2015.9,"hog_units_per_s":0.0}\n'
    assert parse_workload_output(out)["p99_us"] == 2015.9
    assert parse_workload_output('{"workload":"pingpong","pairs":2,"round_trips_per_s":312444.1}')["round_trips_per_s"] == 312444.1
    assert parse_workload_output("no json here") is None and parse_workload_output("{broken") is None


def test_results_are_written_under_the_given_directory(tmp_path) -> None:
    path = write_result("x.md", "table", tmp_path / "results")
    assert path.read_text() == "table\n"


def test_runs_become_per_scheduler_summaries_and_only_valid_runs_count() -> None:
    schedulers = [Scheduler(BASELINE, "eevdf"), Scheduler("batch[longest_first=1]", "bpf")]
    guest = schedulers[1].guest_label
    reports = [
        run(BASELINE, "mixed", {"samples": 100, "p50_us": 80, "p99_us": 4000}, state="disabled", batch={"units_per_s": 1000}),
        run(BASELINE, "mixed", {"samples": 100, "p50_us": 90, "p99_us": 6000}, state="disabled", batch={"units_per_s": 1200}),
        run(guest, "mixed", {"samples": 100, "p50_us": 40, "p99_us": 1000}, batch={"units_per_s": 950}),
        run(guest, "mixed", {"samples": 100, "p50_us": 40, "p99_us": 9}, state="disabled"),  # ejected: not counted
        run(guest, "longtail", {"makespan_ms": 800}),
        run(guest, "longtail", {"makespan_ms": 1}, rc=124),  # timed out: not counted
        run(guest, "longtail", {"makespan_ms": 5}, round=1),  # the warm-up round: not counted
    ]
    results = collect(reports, schedulers)
    assert results[BASELINE]["p99"] == Summary(5000, 4000, 6000, 2)
    assert results["batch[longest_first=1]"]["p99"] == Summary(1000, 1000, 1000, 1)
    assert results["batch[longest_first=1]"]["makespan"].median == 800
    assert ratio(results["batch[longest_first=1]"]["batch"], results[BASELINE]["batch"]) == 950 / 1100


def test_latency_without_samples_is_missing_and_noted_as_starved() -> None:
    p99 = next(m for m in MEASURES if m.key == "p99")
    starved = run("fifo", "mixed", {"samples": 0, "p50_us": 0, "p99_us": 0})
    assert value_of(starved, p99) is None
    notes = failures([starved], [Scheduler("fifo", "bpf")])
    assert "starved" in notes["fifo"]


def test_the_design_loop_tries_the_offline_rules_choice_first() -> None:
    plans = scheduling.design_plans()
    assert plans["mixed"].labels()[0] == "latency-class"
    assert plans["longtail"].labels()[0] == "batch[longest_first=1]"
    assert plans["pingpong"].labels()[0] == "interactive"
    assert all(1 <= len(plan.candidates) <= 3 and len(set(plan.labels())) == len(plan.candidates)
               for plan in plans.values())


def test_the_gate_refuses_a_worse_choice_and_takes_the_next_or_keeps_eevdf() -> None:
    one = lambda v: Summary(v, v, v, 1)  # noqa: E731
    plans = {"schbench": scheduling.Plan(None, [("latency-class", {}), ("vtime", {})]),
             "pingpong": scheduling.Plan(None, [("interactive", {}), ("vtime", {})]),
             "mixed": scheduling.Plan(None, [("fifo", {}), ("latency-class", {})])}
    results = {BASELINE: {"schbench": one(2000), "pingpong": one(100), "p99": one(4000), "batch": one(1000)},
               "latency-class": {"schbench": one(5000), "p99": one(1000), "batch": one(950)},
               "vtime": {"schbench": one(1900)},
               "interactive": {"pingpong": one(99)},
               "fifo": {"p99": one(500), "batch": one(800)}}
    outcomes = scheduling.design_outcomes(results, plans)
    assert outcomes["schbench"].label == "vtime" and "gate refused latency-class worse" in outcomes["schbench"].story
    assert outcomes["pingpong"].label is None, "vtime was not measured: where the loop ends is unknown"
    assert outcomes["mixed"].label == "latency-class", "fifo starves the batch beyond the guard"
    assert "fifo batch 0.80x" in outcomes["mixed"].story
    results["vtime"]["pingpong"] = one(100)
    assert scheduling.design_outcomes(results, plans)["pingpong"].label == BASELINE


def test_a_difference_counts_only_when_the_ranges_do_not_overlap() -> None:
    base = Summary(100, 90, 110, 3)
    assert difference(Summary(80, 70, 89, 3), base, lower_is_better=True) == Difference.BETTER
    assert difference(Summary(80, 70, 95, 3), base, lower_is_better=True) == Difference.WITHIN_SPREAD
    assert difference(Summary(80, 70, 89, 3), base, lower_is_better=False) == Difference.WORSE
    assert difference(Summary(120, 111, 130, 3), base, lower_is_better=False) == Difference.BETTER
    assert difference(None, base, lower_is_better=True) is None


def test_a_cell_marks_the_verdict_and_a_flip_against_the_other_mode() -> None:
    p99 = next(m for m in MEASURES if m.key == "p99")
    base, fast = Summary(100, 90, 110, 3), Summary(50, 45, 55, 3)
    assert scheduling.cell(fast, base, p99) == "50 (45–55) 0.50x+"
    results = {BASELINE: {"p99": base}, "fifo": {"p99": fast}}
    reference = {("fifo", "p99"): str(Difference.WITHIN_SPREAD)}
    text = scheduling.table([Scheduler(BASELINE, "eevdf"), Scheduler("fifo", "bpf")], results,
                            scheduling.design_outcomes(results, scheduling.design_plans()), {}, reference)
    assert "0.50x+ ⚑" in text
    assert scheduling.verdicts(results) == {("fifo", "p99"): "better", (BASELINE, "p99"): "within the spread"}


def test_targets_are_judged_on_where_the_design_loop_ends() -> None:
    one = lambda v: Summary(v, v, v, 1)  # noqa: E731
    outcomes = {w: scheduling.Outcome(None, "") for w in scheduling.WORKLOADS}
    outcomes |= {"mixed": scheduling.Outcome("latency-class", ""), "longtail": scheduling.Outcome("batch", ""),
                 "pingpong": scheduling.Outcome("interactive", "")}
    results = {
        BASELINE: {"p50": one(100), "p99": one(4000), "batch": one(1000), "makespan": one(1000), "pingpong": one(100)},
        "latency-class": {"p50": one(50), "p99": one(1000), "batch": one(950)},
        "batch": {"makespan": one(700)},
        "interactive": {"pingpong": one(80)},
    }
    verdicts = [line.split("|")[-2].strip() for line in scheduling.targets(results, outcomes).splitlines()[2:]]
    assert verdicts == ["met", "met", "met", "NOT met", "not measured"], "ping-pong is 20% worse than EEVDF"


def test_the_design_loop_must_match_the_best_scx_scheduler_beyond_the_spread() -> None:
    outcomes = {w: scheduling.Outcome(None, "") for w in scheduling.WORKLOADS}
    outcomes |= {"mixed": scheduling.Outcome("latency-class", ""),
                 "longtail": scheduling.Outcome("batch[longest_first=1]", "")}
    base = {"p99": Summary(4000, 3900, 4100, 3), "makespan": Summary(1000, 990, 1010, 3)}
    results = {BASELINE: base, "latency-class": {"p99": Summary(1000, 950, 1050, 3)},
               "batch[longest_first=1]": {"makespan": Summary(800, 790, 810, 3)},
               "scx_bpfland": {"p99": Summary(1020, 900, 1100, 3), "makespan": Summary(600, 590, 610, 3)}}
    row = scheduling.targets(results, outcomes).splitlines()[-1]
    assert "makespan (by scx_bpfland)" in row and "p99" not in row and row.endswith("NOT met |")


def test_the_live_design_loop_fills_its_columns_from_the_scripted_server(messages_api) -> None:
    """The live mode's path without a key: the operator's ClaudeLoop on each labelled workload
    against the local server (the verifier stubbed: no boot here)."""
    cases = design_loop.labelled(Path(design_loop.__file__).with_name("design_loop_workloads.yaml"))
    assert {c["expected"] for c in cases} == {"latency-class", "batch", "interactive", "fifo", "vtime"}
    messages_api.script(*(turn for case in cases for turn in design_loop.labelled_turns(case)))
    passing = lambda source, tunables, dynamic: gated_report([300.0, 310.0, 340.0])  # noqa: E731
    rows = [design_loop.design_live(case, messages_api.client(), design_loop.DEFAULT_MODEL, passing) for case in cases]
    messages_api.assert_done()
    assert [(r.calls, r.choice, r.passed, r.repairs) for r in rows] == [(3, c["expected"], True, 0) for c in cases]
    assert all(r.input_tokens > 0 and r.output_tokens > 0 and r.usd > 0 for r in rows)
    table = design_loop.live_table(rows)
    assert "| workload | labelled | calls | tokens in / out | USD (list) | wall s | choice | verifier | repairs |" in table
    assert "5 chosen as labelled" in table and "5 passed" in table
