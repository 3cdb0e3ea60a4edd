"""Scheduling outcome: every scheduler on every workload, in one micro-VM boot, vs EEVDF.

    python -m benchmarks.scheduling [--mode deterministic|parallel] [--repeats 3] [--seconds 2]
                                    [--only fifo,vtime] [--no-scx]

Two modes (see schedcp/microvm/accel.py). deterministic, the default: one vCPU with an
instruction-counted guest clock, so host load does not enter the numbers and rounds
agree closely; it cannot show what needs two CPUs (idle-CPU choice, migration, a long
job kept on its own CPU). parallel: 2 vCPUs in real time, where host load is noise; its
table marks the cells whose verdict differs from the deterministic table's. Either way
a difference counts only when the rounds' ranges do not overlap.

One boot runs, round after round, after one warm-up round whose numbers are dropped
(the first round after boot is an outlier), the kernel's own scheduler (EEVDF), each built-in
template with its default tunables, every candidate the design loop would try, and
the scx schedulers that could be built on this host, over four workloads:

- mixed: latency workers (wakeup_latency, no hogs of its own) in one cgroup next to
  CPU hogs (cpu_batch) in another, both at once: the workers' p99 wakeup latency and
  the hogs' throughput. Two processes in two cgroups, because the latency-class
  template protects cgroups: its class map gets the workers' cgroup id.
- longtail: twelve short jobs and one long one, started at once: the makespan.
- parallel: 2 threads per vCPU burning CPU: units of work per second.
- pingpong: pairs of threads passing a byte over pipes: round trips per second.
- schbench: message threads waking workers that serve short requests (schbench's shape),
  in the protected cgroup: the workers' p99 wakeup latency and requests per second.
- build: a make -j of short-lived processes, each a fork and an exec: the makespan.
- batches: SchedCP's long-tail batch shape, batches of twelve short jobs and one long
  one run one after another: the total makespan.

The design loop's row is where it ends on each workload: the offline planner's
candidates (its rule's choice on the Workload Profile that tier-1 profiling reports,
PROFILES, traits derived by the operator's own `derive_traits`, then the repository's
ranking), each judged in turn by the performance gate's rule on this boot's numbers, and
EEVDF kept when none is better (NoImprovement). The scripted-Claude path of the tests
makes the same choice, so it is not run twice. Each cell is the median of the repeats with its spread
(min–max) and the median's ratio to EEVDF's. Results: stdout,
benchmarks/results/scheduling.md and scheduling.png.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.reporting import (
    RESULTS_DIR,
    Difference,
    Summary,
    difference,
    format_ratio,
    gain,
    markdown_table,
    ratio,
    summarize,
    write_result,
)
from schedcp.microvm.accel import Timing
from schedcp.provisioning.scx import scx_guest_files, scx_status

GUEST_SCRIPT = Path(__file__).with_name("scheduling_guest.sh")
WORKLOADS = ("mixed", "longtail", "parallel", "pingpong", "schbench", "build", "batches")
BASELINE = "eevdf"
# Sized for 2 vCPUs: 2 latency workers waking every 2 ms next to 4 hogs; 4 threads for
# the parallel run; 2 ping-pong pairs; 2 message threads with 4 workers each (more
# runnable workers than CPUs), requests of 20 units of 1000 iterations; a build of 60
# tasks, 4 at a time; 4 long-tail batches.
SHAPE = {"WORKERS": 2, "PERIOD_US": 2000, "HOGS": 4, "THREADS": 4, "PAIRS": 2, "MESSAGES": 2, "FANOUT": 4,
         "REQUEST_UNITS": 20, "BUILD_TASKS": 60, "BUILD_JOBS": 4, "BATCHES": 4}
# The vCPUs each mode gives the guest; the planner's profiles describe a 2-CPU node either way.
VM_CPUS = {Timing.DETERMINISTIC: 1, Timing.PARALLEL: 2}
PROFILE_CPUS = 2
WARM_UP_ROUNDS = 1
# Each mode's verdicts vs EEVDF, machine-readable, so the other mode's table can mark where it differs.
VERDICTS = {timing: f"scheduling-{timing}.verdicts.json" for timing in VM_CPUS}


@dataclass(frozen=True)
class Measure:
    key: str
    workload: str
    path: tuple[str, str]  # (part of the run report, field of the workload's JSON)
    title: str
    lower_is_better: bool
    objective: bool = True  # the workload's own goal, which "no worse than EEVDF" is judged on
    digits: int = 0


MEASURES = (
    Measure("p50", "mixed", ("result", "p50_us"), "mixed: p50 wakeup latency µs (lower)", True, objective=False),
    Measure("p99", "mixed", ("result", "p99_us"), "mixed: p99 wakeup latency µs (lower)", True),
    Measure("batch", "mixed", ("batch", "units_per_s"), "mixed: batch units/s (higher)", False, objective=False),
    Measure("makespan", "longtail", ("result", "makespan_ms"), "long tail: makespan ms (lower)", True),
    Measure("parallel", "parallel", ("result", "units_per_s"), "parallel: units/s (higher)", False),
    Measure("pingpong", "pingpong", ("result", "round_trips_per_s"), "ping-pong: round trips/s (higher)", False),
    Measure("schbench", "schbench", ("result", "wakeup_p99_us"), "schbench: p99 wakeup latency µs (lower)", True),
    Measure("requests", "schbench", ("result", "requests_per_s"), "schbench: requests/s (higher)", False,
            objective=False),
    Measure("build", "build", ("result", "makespan_ms"), "build: makespan ms (lower)", True),
    Measure("batches", "batches", ("result", "makespan_ms"), "batches: makespan ms (lower)", True),
)


# label -> measure key -> that measure over the measured rounds
Results = dict[str, dict[str, Summary | None]]


@dataclass
class Scheduler:
    """One row's scheduler as the guest loads it; `note` says why it could not run."""

    label: str
    kind: str  # eevdf | bpf | scx
    arg: str = "-"
    classes: bool = False
    note: str = ""
    template: str = ""
    tunables: dict[str, int] = field(default_factory=dict)

    @property
    def guest_label(self) -> str:
        """The label as the guest uses it: a file name (pin directory) too."""
        return re.sub(r"[^A-Za-z0-9_.-]", "_", self.label)

    def line(self) -> str:
        return f"{self.guest_label} {self.kind} {self.arg} {int(self.classes)}\n"


# -- the design loop's candidates ------------------------------------------------------------

def profiles() -> dict[str, Any]:
    """What tier-1 profiling reports for each workload, reduced as the operator reduces it."""
    from schedcp.api.v1alpha1.base import SchedulingMetrics
    from schedcp.api.v1alpha1.policy import ObjectiveKind
    from schedcp_operator.design.observe import derive_traits
    from schedcp_operator.design.profile import WorkloadProfile

    wakes = SHAPE["WORKERS"] * 1_000_000 / SHAPE["PERIOD_US"]
    busy = SchedulingMetrics(cpu_cores=PROFILE_CPUS, timeslice_mean_micros=20_000, run_delay_per_second_micros=1_000_000)
    shapes = {
        # protected: the latency workers' pod; others: the hogs' pod
        "mixed": (ObjectiveKind.LATENCY,
                  SchedulingMetrics(cpu_cores=0.05, voluntary_switches_per_second=wakes, timeslice_mean_micros=200), 1,
                  busy, 1),
        # thirteen jobs, all CPU-bound, nothing protected, the goal is the makespan
        "longtail": (ObjectiveKind.MAKESPAN, None, 0, busy, 13),
        # 2 threads per CPU: CPU-bound and contended
        "parallel": (ObjectiveKind.THROUGHPUT, None, 0, busy, 1),
        # the ping-pong pod sleeps and wakes tens of thousands of times a second
        "pingpong": (ObjectiveKind.THROUGHPUT,
                     SchedulingMetrics(cpu_cores=1.0, voluntary_switches_per_second=40_000, timeslice_mean_micros=20), 1,
                     None, 0),
        # schbench's workers: protected, wake thousands of times a second for short requests, and keep both CPUs busy
        "schbench": (ObjectiveKind.LATENCY,
                     SchedulingMetrics(cpu_cores=PROFILE_CPUS, voluntary_switches_per_second=20_000,
                                       timeslice_mean_micros=100, run_delay_per_second_micros=500_000), 1, None, 0),
        # a build: sixty short CPU-bound processes, the goal is when the last one ends
        "build": (ObjectiveKind.MAKESPAN, None, 0, busy, 60),
        # batches of thirteen jobs, one long: the goal is the makespan
        "batches": (ObjectiveKind.MAKESPAN, None, 0, busy, 13),
    }
    result = {}
    for name, (objective, protected, protected_pods, others, other_pods) in shapes.items():
        traits = derive_traits(objective, protected, protected_pods, others, other_pods)
        result[name] = WorkloadProfile(objective=objective, traits=traits, protected=protected, others=others,
                                       protected_pods=protected_pods, other_pods=other_pods, nodes=1)
    return result


@dataclass(frozen=True)
class Plan:
    """The offline planner's candidates for one workload, in the order the design loop tries them."""

    choice: Any  # offline.Choice: the rule's pick and why
    candidates: list[tuple[str, dict[str, int]]]

    def labels(self) -> list[str]:
        return [config_label(template, tunables) for template, tunables in self.candidates]


def design_plans() -> dict[str, Plan]:
    from schedcp_operator.design.offline import candidates
    from schedcp_operator.design.repository import Repository

    repository = Repository.from_builtins()
    found = {name: candidates(profile, repository) for name, profile in profiles().items()}
    return {name: Plan(c.choice, c.tried) for name, c in found.items()}


def config_label(template: str, tunables: dict[str, int]) -> str:
    return template + "".join(f"[{k}={v}]" for k, v in sorted(tunables.items()))


# -- the schedulers --------------------------------------------------------------------------

def parse_config(text: str) -> tuple[str, dict[str, int]]:
    """`TEMPLATE:NAME=VALUE,NAME=VALUE` (a configuration to measure beside the defaults)."""
    template, _, assignments = text.partition(":")
    pairs = (item.split("=", 1) for item in assignments.split(",") if item.strip())
    return template.strip(), {name.strip(): int(value) for name, value in pairs}


def prepare(workdir: Path, only: set[str] | None, scx: bool, extra: list[tuple[str, dict[str, int]]]
            ) -> tuple[list[Scheduler], dict[str, Plan], dict[str, Path]]:
    from schedcp.building import compile_scheduler
    from schedcp.provisioning.kernel import provision_kernel
    from schedcp.templates import builtin_templates

    templates = builtin_templates()
    vmlinux_h = provision_kernel().vmlinux_h
    plans = design_plans()
    configs = [(name, {}) for name in templates]
    configs += [candidate for plan in plans.values() for candidate in plan.candidates] + extra
    schedulers = [Scheduler(BASELINE, "eevdf")]
    objects: dict[str, Path] = {}
    for template, tunables in configs:
        label = config_label(template, tunables)
        if any(s.label == label for s in schedulers) or (only and template not in only and label not in only
                                                          and (template, tunables) not in extra):
            continue
        built = compile_scheduler(templates[template].source(), templates[template].defaults() | tunables,
                                  vmlinux_h, workdir / label)
        scheduler = Scheduler(label, "bpf", classes=template == "latency-class", template=template, tunables=tunables)
        scheduler.arg = f"{scheduler.guest_label}.bpf.o"
        objects[f"obj/{scheduler.arg}"] = built.path
        schedulers.append(scheduler)
    for crate, status in scx_status().items():
        if only and crate not in only:
            continue
        if status.binary and scx:
            schedulers.append(Scheduler(crate, "scx", str(status.binary)))
        else:
            schedulers.append(Scheduler(crate, "none", note="could not run: " + (status.message if scx else "--no-scx")))
    return schedulers, plans, objects


# -- the run ----------------------------------------------------------------------------------

def params(repeats: int, seconds: float, workloads: tuple[str, ...]) -> str:
    values = {"REPEATS": repeats + WARM_UP_ROUNDS, "MS": int(seconds * 1000), "MID": round(min(0.5, seconds / 3), 2),
              "TO": int(seconds * 6 + 20), "WORKLOADS": "'" + " ".join(workloads) + "'", **SHAPE}
    return "".join(f"{key}={value}\n" for key, value in values.items())


def vm_timeout(runnable: list[Scheduler], repeats: int, seconds: float, workloads: tuple[str, ...]) -> float:
    # Boot, calibration, then per load: the load itself and four workloads of a few
    # seconds each under TCG (the long tail runs about 1.5x --seconds).
    return 90 + (repeats + WARM_UP_ROUNDS) * len(runnable) * (15 + len(workloads) * (seconds * 1.5 + 4))


def run_vm(schedulers: list[Scheduler], objects: dict[str, Path], args: argparse.Namespace, workdir: Path):
    from schedcp.building import workload_binaries
    from schedcp.microvm.runner import run_script
    from schedcp.provisioning.kernel import provision_kernel

    runnable = [s for s in schedulers if s.kind in ("eevdf", "bpf", "scx")]
    (workdir / "params.sh").write_text(params(args.repeats, args.seconds, args.workloads))
    (workdir / "schedulers.txt").write_text("".join(s.line() for s in runnable))
    files = {"params.sh": workdir / "params.sh", "schedulers.txt": workdir / "schedulers.txt", **objects}
    files |= {f"bin/{name}": path for name, path in workload_binaries().items()}
    share_host = any(s.kind == "scx" for s in runnable)
    if share_host:
        files |= scx_guest_files(provision_kernel())
    timeout = vm_timeout(runnable, args.repeats, args.seconds, args.workloads)
    return run_script(GUEST_SCRIPT.read_text(), files, timeout=timeout, cpus=VM_CPUS[args.mode], memory_mb=1024,
                      share_host=share_host, timing=args.mode)


# -- the results -------------------------------------------------------------------------------

def value_of(run: dict[str, Any], measure: Measure) -> float | None:
    """The measure in a run report; a latency run whose workers never woke has no latency."""
    part = run.get(measure.path[0]) or {}
    if measure.path[1].endswith("_us") and isinstance(part, dict) and not part.get("samples"):
        return None
    value = part.get(measure.path[1]) if isinstance(part, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def valid_run(run: dict[str, Any], scheduler: Scheduler | None) -> bool:
    """The run exited cleanly, and under the scheduler it was meant for."""
    if run.get("rc") != 0:
        return False
    if scheduler is None or scheduler.kind == "eevdf":
        return run.get("state") != "enabled"
    return run.get("state") == "enabled"


def collect(reports: list[dict[str, Any]], schedulers: list[Scheduler]) -> Results:
    """label -> measure key -> summary of that measure over the rounds."""
    by_guest = {s.guest_label: s for s in schedulers}
    values: dict[str, dict[str, list[float | None]]] = {}
    for run in reports:
        scheduler = by_guest.get(run.get("label", ""))
        if run.get("event") != "run" or scheduler is None or not valid_run(run, scheduler) \
                or run.get("round", 0) <= WARM_UP_ROUNDS:
            continue
        for measure in MEASURES:
            if measure.workload == run.get("workload"):
                values.setdefault(scheduler.label, {}).setdefault(measure.key, []).append(value_of(run, measure))
    return {label: {m.key: summarize(per.get(m.key, [])) for m in MEASURES} for label, per in values.items()}


def failures(reports: list[dict[str, Any]], schedulers: list[Scheduler]) -> dict[str, str]:
    """Why a scheduler has no numbers: a refused load, an ejection, a wrong attachment."""
    notes = {s.label: s.note for s in schedulers if s.note}
    by_guest = {s.guest_label: s.label for s in schedulers}
    for report in reports:
        label = by_guest.get(report.get("label", ""), report.get("label", ""))
        if report.get("event") == "load" and report.get("rc") != 0:
            notes.setdefault(label, "could not run: load failed: " + (report.get("log", "").strip().splitlines() or ["?"])[-1][:160])
        if report.get("event") == "load" and report.get("classes") not in (None, 0):
            notes.setdefault(label, "class map not written: " + report.get("log", "")[-160:])
        if report.get("event") == "load" and report.get("classes") == 0 and '"value": 1' not in report.get("log", "") \
                and "value: 01 00 00 00" not in report.get("log", ""):
            notes.setdefault(label, "the class map does not show the workers' cgroup: " + report.get("log", "")[-160:])
        if report.get("event") == "run" and report.get("workload") == "mixed" and report.get("rc") == 0 \
                and isinstance(report.get("result"), dict) and not report["result"].get("samples"):
            notes.setdefault(label, "starved: the latency workers never woke in a run")
        if report.get("event") == "unload" and report.get("dmesg", "").strip():
            notes.setdefault(label, "kernel said: " + report["dmesg"].strip().replace("\\n", " ")[:200])
    return notes


MARKS = {Difference.BETTER: "+", Difference.WORSE: "−", Difference.WITHIN_SPREAD: "="}


def cell(summary: Summary | None, baseline: Summary | None, measure: Measure, with_ratio: bool = True,
         flip: str = "") -> str:
    """Median (min–max), the ratio to EEVDF's median, and whether the ranges are apart."""
    if summary is None:
        return "–"
    text = summary.cell(measure.digits)
    if not with_ratio:
        return text
    mark = MARKS.get(difference(summary, baseline, measure.lower_is_better), "")
    return f"{text} {format_ratio(ratio(summary, baseline))}{mark}{flip}"


# A latency objective's guard on the others' work, as the gate applies it (maxBatchLossPercent's default).
BATCH_GUARD = {"mixed": ("batch", 0.10)}


@dataclass(frozen=True)
class Outcome:
    """Where the design loop ends on one workload: the candidate the gate passed, EEVDF kept, or unknown."""

    label: str | None  # None: a candidate the loop reached was not measured
    story: str


def objective_of(workload: str) -> Measure:
    return next(m for m in MEASURES if m.workload == workload and m.objective)


def gate_passes(workload: str, own: dict[str, Summary | None], base: dict[str, Summary | None]) -> Difference | str:
    """The gate's rule on this boot's numbers: better than EEVDF beyond the spread, the guard kept."""
    measure = objective_of(workload)
    verdict = difference(own.get(measure.key), base.get(measure.key), measure.lower_is_better)
    key, loss = BATCH_GUARD.get(workload, (None, 0.0))
    kept = ratio(own.get(key), base.get(key)) if key else None
    if verdict == Difference.BETTER and kept is not None and kept < 1 - loss:
        return f"{key} {format_ratio(kept)}"
    return verdict


def design_outcomes(results: Results, plans: dict[str, Plan]) -> dict[str, Outcome]:
    """The offline planner's candidates in order, each judged by the gate's rule on the workload itself.

    The real gate replays the policy's profile; here the workload's own numbers from the
    same boot stand in for that replay. Nothing better than EEVDF: the kernel default is kept.
    """
    base = results.get(BASELINE, {})
    outcomes = {}
    for workload, plan in plans.items():
        refused: list[str] = []
        outcome = Outcome(BASELINE, "NoImprovement, the kernel default kept")
        for label in plan.labels():
            verdict = gate_passes(workload, results.get(label, {}), base)
            if verdict is None:
                outcome = Outcome(None, f"{label} not measured")
                break
            if verdict == Difference.BETTER:
                outcome = Outcome(label, f"{label} ({plan.choice.rule})" if not refused else label)
                break
            refused.append(f"{label} {verdict}")
        outcomes[workload] = Outcome(outcome.label, "; ".join(
            [*(f"gate refused {r}" for r in refused), outcome.story]))
    return outcomes


def verdicts(results: Results) -> dict[tuple[str, str], str]:
    """(label, measure key) -> better/worse/within the spread than EEVDF: what a second mode is checked against."""
    base = results.get(BASELINE, {})
    return {(label, m.key): str(verdict) for label, per in results.items() for m in MEASURES
            if (verdict := difference(per.get(m.key), base.get(m.key), m.lower_is_better)) is not None}


def table(schedulers: list[Scheduler], results: Results, outcomes: dict[str, Outcome], notes: dict[str, str],
          reference: dict[tuple[str, str], str] | None = None) -> str:
    base = results.get(BASELINE, {})
    mine = verdicts(results)

    def flip(label: str, key: str) -> str:
        # A cell whose verdict differs from the reference mode's (the deterministic table).
        theirs = (reference or {}).get((label, key))
        return " ⚑" if theirs and mine.get((label, key)) and theirs != mine[(label, key)] else ""

    headers = ["scheduler", *(m.title for m in MEASURES), "note"]
    rows = []
    for s in schedulers:
        own = results.get(s.label, {})
        row = [s.label, *(cell(own.get(m.key), base.get(m.key), m, s.label != BASELINE, flip(s.label, m.key))
                          for m in MEASURES)]
        if not own and not notes.get(s.label):
            notes[s.label] = "no valid run (see the VM's reports)"
        rows.append([*row, notes.get(s.label, "")])
    design = ["design loop (offline planner and gate; scripted Claude makes the same choice)"]
    for m in MEASURES:
        label = outcomes[m.workload].label
        design.append("–" if label is None else
                      f"{label}: {cell(results.get(label, {}).get(m.key), base.get(m.key), m, flip=flip(label, m.key))}")
    rows.append([*design, "; ".join(f"{w} → {o.story}" for w, o in outcomes.items())])
    return markdown_table(headers, rows)


def best_scx(results: Results, measure: Measure) -> tuple[str, Summary] | None:
    """The scx scheduler with the best median on `measure`, if any ran."""
    ran = [(label, per[measure.key]) for label, per in results.items()
           if label.startswith("scx_") and per.get(measure.key) is not None]
    if not ran:
        return None
    pick = min if measure.lower_is_better else max
    return pick(ran, key=lambda item: item[1].median)


def targets(results: Results, outcomes: dict[str, Outcome]) -> str:
    """DESIGN.md's scheduling targets for where the design loop ends, the spread taken into account."""
    base = results.get(BASELINE, {})

    def mine(key: str) -> tuple[Measure, Summary | None]:
        measure = next(m for m in MEASURES if m.key == key)
        label = outcomes[measure.workload].label
        return measure, None if label is None else results.get(label, {}).get(key)

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("met" if ok else "NOT met")

    def times_better(key: str, factor: float) -> list[str]:
        measure, summary = mine(key)
        r = ratio(summary, base.get(key))
        apart = difference(summary, base.get(key), measure.lower_is_better) == Difference.BETTER
        ok = None if r is None else (gain(r, measure.lower_is_better) or 0) >= factor and apart
        return [format_ratio(r), verdict(ok)]

    _, batch = mine("batch")
    batch_ratio = ratio(batch, base.get("batch"))
    own = [m for m in MEASURES if m.objective]
    worse = [m.key for m in own if difference(mine(m.key)[1], base.get(m.key), m.lower_is_better) == Difference.WORSE]
    measured = [m for m in own if mine(m.key)[1] is not None]
    scx = [(m, best_scx(results, m)) for m in own]
    beaten = [f"{m.key} (by {best[0]})" for m, best in scx if best
              and difference(mine(m.key)[1], best[1], m.lower_is_better) == Difference.WORSE]
    compared = [m for m, best in scx if best and mine(m.key)[1] is not None]
    rows = [
        ["mixed: p99 at least 2x better", *times_better("p99", 2.0)],
        ["mixed: batch loss at most 10%", format_ratio(batch_ratio),
         verdict(None if batch_ratio is None else batch_ratio >= 0.9)],
        ["long tail: makespan at least 15% shorter", *times_better("makespan", 1 / 0.85)],
        ["nothing worse than EEVDF beyond the spread (each workload's objective)",
         ", ".join(worse) or ("none" if measured else "–"), verdict(None if not measured else not worse)],
        ["at least as good as the best scx scheduler (default flags), within the spread",
         ", ".join(beaten) or ("none" if compared else "–"), verdict(None if not compared else not beaten)],
    ]
    return markdown_table(["target (design loop's choice vs EEVDF)", "ratio / where", "verdict"], rows)


def figure(schedulers: list[Scheduler], results: Results, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("the figure needs matplotlib: pip install -e '.[test]'") from None
    base = results.get(BASELINE, {})
    shown = [s.label for s in schedulers if s.label != BASELINE and results.get(s.label)]
    if not shown or not base:
        return None
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / len(shown)
    for index, label in enumerate(shown):
        gains = [gain(ratio(results[label].get(m.key), base.get(m.key)), m.lower_is_better) or 0 for m in MEASURES]
        ax.bar([i + index * width for i in range(len(MEASURES))], gains, width, label=label)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(MEASURES))], [m.title.replace(": ", ":\n", 1) for m in MEASURES], fontsize=8)
    ax.set_ylabel("times better than EEVDF (median)")
    ax.set_title("Scheduling outcome vs EEVDF, same micro-VM boot (> 1 is better)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def header(vm: Any, args: argparse.Namespace, calibration: dict[str, Any]) -> str:
    mode = (f"mode {vm.timing}: {VM_CPUS[vm.timing]} vCPU(s), "
            + ("guest time counted in instructions (`-icount shift=2,sleep=off`), host load does not enter the numbers"
               if vm.timing == Timing.DETERMINISTIC and vm.accelerator == "tcg" else "real time"))
    command = "python -m benchmarks.scheduling " + " ".join(sys.argv[1:])
    return (f"`{command.strip()}` — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {vm.accelerator.upper()}, {mode}.\n\n"
            f"Scheduling outcome vs EEVDF: {args.repeats} measured round(s) of {args.seconds:g} s runs (after "
            f"{WARM_UP_ROUNDS} warm-up round, dropped) in one micro-VM boot ({vm.seconds:.0f} s in all). Cells: median "
            f"(min–max over the rounds), the median's ratio to EEVDF, and + better / − worse / = within the spread "
            f"(the ranges overlap)"
            + (", ⚑ where the deterministic table's verdict differs" if vm.timing == Timing.PARALLEL else "")
            + ". Under TCG absolute numbers are slow (instructions are emulated): compare ratios. "
            + f"Long-tail jobs: 12 x {calibration.get('short_units')} + 1 x {calibration.get('long_units')} units "
              f"(calibrated in the boot).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", type=Timing, choices=list(VM_CPUS), default=Timing.DETERMINISTIC,
                        help="deterministic (1 vCPU, instruction-counted clock) or parallel (2 vCPUs, real time)")
    parser.add_argument("--repeats", type=int, default=3, help="measured rounds: runs per (scheduler, workload)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each run")
    parser.add_argument("--only", default="", help="comma-separated templates or scx crates to include (EEVDF always)")
    parser.add_argument("--no-scx", action="store_true", help="leave the scx schedulers out even if built")
    parser.add_argument("--config", action="append", default=[], type=parse_config, metavar="TEMPLATE:NAME=VALUE,...",
                        help="also measure a template with these tunables (repeatable)")
    parser.add_argument("--workloads", type=workload_list, default=WORKLOADS,
                        help=f"comma-separated workloads to run (default all: {','.join(WORKLOADS)})")
    args = parser.parse_args()
    # A partial run must not overwrite the committed full table.
    partial = "-partial" if args.only or args.workloads != WORKLOADS or args.no_scx else ""
    only = {x.strip() for x in args.only.split(",") if x.strip()} or None
    with tempfile.TemporaryDirectory(prefix="schedcp-bench-") as tmp:
        workdir = Path(tmp)
        schedulers, plans, objects = prepare(workdir, only, not args.no_scx, args.config)
        started = time.monotonic()
        vm = run_vm(schedulers, objects, args, workdir)
    if vm.timed_out or not vm.finished:
        print(f"warning: the VM {'timed out' if vm.timed_out else 'did not finish'} after {time.monotonic() - started:.0f} s; "
              "partial results follow\n" + vm.console[-3000:])
    calibration = next(iter(vm.events("calibration")), {})
    results = collect(vm.reports, schedulers)
    outcomes = design_outcomes(results, plans)
    notes = failures(vm.reports, schedulers)
    reference = None
    if args.mode == Timing.PARALLEL and (RESULTS_DIR / VERDICTS[Timing.DETERMINISTIC]).exists():
        reference = load_verdicts(RESULTS_DIR / VERDICTS[Timing.DETERMINISTIC])
    text = "\n\n".join([header(vm, args, calibration), table(schedulers, results, outcomes, notes, reference),
                        targets(results, outcomes)])
    print(text)
    path = write_result(f"scheduling-{args.mode}{partial}.md", text)
    if not partial:
        write_result(VERDICTS[args.mode], json.dumps([[*key, value] for key, value in verdicts(results).items()],
                                                     indent=0))
    png = figure(schedulers, results, RESULTS_DIR / f"scheduling-{args.mode}{partial}.png")
    print(f"\nwritten: {path}" + (f", {png}" if png else ""))


def workload_list(text: str) -> tuple[str, ...]:
    chosen = tuple(w.strip() for w in text.split(",") if w.strip())
    unknown = set(chosen) - set(WORKLOADS)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown workloads {sorted(unknown)}; known: {', '.join(WORKLOADS)}")
    return chosen


def load_verdicts(path: Path) -> dict[tuple[str, str], str]:
    return {(label, key): value for label, key, value in json.loads(path.read_text())}


if __name__ == "__main__":
    main()
