"""Stages 2 to 4 in one boot: the kernel verifier (load), the dynamic run and, with a
performance goal, the gate (performance.py).

The workload suite (and the gate's rounds) runs first under the kernel's default
scheduler (EEVDF), then under each candidate in turn, so every comparison is made in the
same boot on the same virtual hardware. A candidate that the kernel rejects, or that the
watchdog ejects, leaves the VM on the fair scheduler and the next candidate starts clean.
The VM runs in the deterministic timing mode (one vCPU, an instruction-counted clock
under TCG): host load would otherwise decide which scheduler looks faster.

A candidate is a scheduler object or an scx binary from the host's cache, which the guest
runs from the shared host tree with its arguments and stops with SIGINT, as a user would;
the kernel verifier's verdict on it is whether it attached within SCX_LOAD_TIMEOUT.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schedcp.api.v1alpha1.revision import (
    Better,
    PerformanceJudgement,
    StageName,
    StageResult,
    VerificationStage,
    WorkloadComparison,
)
from schedcp.api.v1alpha1.template import BinarySource
from schedcp.building import workload_binaries
from schedcp.microvm.accel import Timing
from schedcp.microvm.runner import VmResult, run_script
from schedcp.provisioning.kernel import KernelArtifacts, provision_kernel
from schedcp.provisioning.scx import scx_guest_files
from schedcp.verifying.bpf_object import read_object
from schedcp.verifying.performance import (
    LONGTAIL,
    WARM_UP_ROUNDS,
    PerformanceGoal,
    Rounds,
    gate_commands,
    gate_seconds,
    judge,
)

GUEST_SCRIPT = Path(__file__).with_name("guest.sh")
# Sized for TCG: long enough to load the CPU, short enough for CI.
SUITE = {
    "wakeup_latency": "bin/wakeup_latency 1200 2 4 2000",
    "cpu_batch": "bin/cpu_batch 800 4",
    "longtail": LONGTAIL,
}
MID_SECONDS = 0.4
WORKLOAD_TIMEOUT = 20
# scx_lavd's BPF load takes about 30 s under TCG.
SCX_LOAD_TIMEOUT = 120
# An object's load, the kernel verifier's walk included. The built-ins verify in a few
# seconds under TCG; a loop the verifier cannot bound walks its million-instruction limit
# for over 100 s there, and the stage says so instead of holding the boot.
VERIFIER_TIMEOUT = 40
# timeout(1)'s exit status: coreutils' 124, busybox's (the guest's) that of its SIGTERM.
TIMED_OUT = (124, 128 + 15)
# A callback runs with the CPU's scheduling stopped: microseconds normally, even under TCG
# (whose clock here counts instructions, so host load does not enter it).
SLOW_CALLBACK_NS = 2_000_000
SLOW_CALLBACK_MIN_CALLS = 3  # .init and .exit run once, and may take longer
PROG_NAME_LEN = 15
# (workload, metric in its JSON, which direction is better)
MEASURES = (
    ("wakeup_latency", "p50_us", Better.LOWER),
    ("wakeup_latency", "p99_us", Better.LOWER),
    ("wakeup_latency", "hog_units_per_s", Better.HIGHER),
    ("cpu_batch", "units_per_s", Better.HIGHER),
    ("longtail", "makespan_ms", Better.LOWER),
    ("longtail", "mean_completion_ms", Better.LOWER),
)
LOAD_LOG = re.compile(r"-- BEGIN PROG LOAD LOG --\n(?P<log>.*?)-- END PROG LOAD LOG --", re.S)
DECISIVE = re.compile(r"error:|invalid|not allowed|unknown func|unreleased reference|R\d+ (?:!read_ok|type=)")
# The verifier's walk: instructions and states ("12: (85) call ...", "12: R1=..."), source lines ("; x = y").
INSTRUCTION = re.compile(r"^\s*(\d+:|;|from \d+ to \d+:)")
GAVE_UP = re.compile(r"BPF program is too large\. Processed (\d+) insn")
# A verifier's refusal, as opposed to the instructions and register states around it.
REFUSAL = re.compile(
    r"invalid|unreleased reference|not allowed|unknown func|back-edge|infinite loop|!read_ok|must be|cannot|"
    r"expected|unbounded|misaligned|out of range|is not|arg#\d|too large|not found|failed to|has no|unsupported",
    re.I,
)
EJECTION = re.compile(r"sched_ext: BPF scheduler \"?'?(?P<name>[^\"']+)\"?'? disabled \((?P<reason>[^)]*)\)(?P<rest>.*)", re.S)


@dataclass(frozen=True)
class LoadableCandidate:
    """A scheduler object, or with `binary` the host path of that scx binary."""

    obj: Path
    ops_name: str
    binary: BinarySource | None = None

    def runs_as(self, ops: str | None) -> bool:
        return self.binary.runs_as(ops) if self.binary else ops == self.ops_name

    def line(self, index: int) -> str:
        """Its line of candidates.txt (guest.sh)."""
        if self.binary:
            return " ".join([str(index), self.binary.ops_prefix, "scx", str(self.obj), *self.binary.arguments])
        return f"{index} {self.ops_name} obj obj/c{index}.bpf.o"


@dataclass
class ExecutionOutcome:
    kernel_stage: VerificationStage
    dynamic_stage: VerificationStage
    workloads: list[WorkloadComparison]
    performance: PerformanceJudgement | None = None


def _params(goal: PerformanceGoal | None) -> str:
    lines = [f"WORKLOADS='{' '.join(SUITE)}'", f"MID_SECONDS={MID_SECONDS}", f"WORKLOAD_TIMEOUT={WORKLOAD_TIMEOUT}",
             f"SCX_LOAD_TIMEOUT={SCX_LOAD_TIMEOUT}", f"VERIFIER_TIMEOUT={VERIFIER_TIMEOUT}"]
    lines += [f"CMD_{name}='{command}'" for name, command in SUITE.items()]
    gate = gate_commands(goal) if goal else {}
    lines += [f"GATE_PARTS='{' '.join(gate)}'", f"GATE_ROUNDS={goal.rounds + WARM_UP_ROUNDS if goal else 0}",
              f"GATE_TIMEOUT={WORKLOAD_TIMEOUT}"]
    lines += [f"GATE_CMD_{part}='{command}'" for part, command in gate.items()]
    return "\n".join(lines) + "\n"


def boot_and_run(candidates: list[LoadableCandidate], kernel: KernelArtifacts | None = None,
                 goal: PerformanceGoal | None = None) -> VmResult:
    with tempfile.TemporaryDirectory(prefix="schedcp-verify-") as tmp:
        workdir = Path(tmp)
        (workdir / "params.sh").write_text(_params(goal))
        (workdir / "candidates.txt").write_text("".join(f"{c.line(i)}\n" for i, c in enumerate(candidates)))
        files = {"params.sh": workdir / "params.sh", "candidates.txt": workdir / "candidates.txt"}
        files |= {f"bin/{name}": path for name, path in workload_binaries().items()}
        files |= {f"obj/c{i}.bpf.o": c.obj for i, c in enumerate(candidates) if not c.binary}
        binaries = sum(1 for c in candidates if c.binary)
        if binaries:
            files |= scx_guest_files(kernel or provision_kernel())
        # Budget: the baseline suite, each candidate's suite, and a full watchdog timeout;
        # the gate's rounds for EEVDF and each candidate; an object's or a binary's load.
        gate = gate_seconds(goal) if goal else 0
        objects = len(candidates) - binaries
        timeout = (60 + 45 * len(candidates) + gate * (1 + len(candidates)) + SCX_LOAD_TIMEOUT * binaries
                   + VERIFIER_TIMEOUT * objects)
        return run_script(GUEST_SCRIPT.read_text(), files, timeout=timeout, kernel=kernel, share_host=binaries > 0,
                          timing=Timing.DETERMINISTIC)


def decisive_verifier_lines(log: str, head: int = 15, tail: int = 3) -> str:
    """Why the kernel refused: 7.x states it at the top of its log, 6.x in its last lines.

    Keeps the log's opening lines, every line naming an error, and its closing summary.
    """
    match = LOAD_LOG.search(log)
    lines = (match.group("log") if match else log).strip().splitlines()
    flagged = [line for line in lines if DECISIVE.search(line)]
    failures = [line for line in log.splitlines() if "failed to load" in line]
    return "\n".join(dict.fromkeys(lines[:head] + flagged + lines[-tail:] + failures))


def _result_of(reports: list[dict[str, Any]], label: str, workload: str) -> dict[str, Any]:
    for report in reports:
        if report.get("event") == "workload" and report.get("label") == label and report.get("name") == workload:
            return report
    return {}


def compare(reports: list[dict[str, Any]], label: str) -> list[WorkloadComparison]:
    comparisons = []
    for workload, metric, better in MEASURES:
        base = _result_of(reports, "baseline", workload).get("result", {}).get(metric)
        cand = _result_of(reports, label, workload).get("result", {}).get(metric)
        comparisons.append(WorkloadComparison(workload=workload, metric=metric, better=better, baseline=base, candidate=cand))
    return comparisons


def refusal(rc: int, log: str, binary: bool = False) -> str:
    """What happened, in a sentence: the verifier's limit, its time limit, or its reason."""
    if gave_up := GAVE_UP.search(log):
        return (f"the kernel verifier gave up after {int(gave_up.group(1)):,} instructions (its limit): a loop it "
                f"cannot prove bounded, or too many paths")
    if rc in TIMED_OUT and not binary:
        return (f"the kernel verifier had not decided after {VERIFIER_TIMEOUT} s and was stopped: it was still walking "
                f"the program's paths, as it does for a loop it cannot prove bounded")
    match = LOAD_LOG.search(log)
    reasons = [line.strip() for line in (match.group("log") if match else log).splitlines()
               if REFUSAL.search(line) and not INSTRUCTION.match(line)]
    if match and reasons:
        return "the kernel verifier rejected it: " + " / ".join(dict.fromkeys(reasons[:3]))
    loader = [line.strip() for line in log.splitlines() if line.startswith("libbpf:") and REFUSAL.search(line)]
    if loader:
        return "the loader refused it before the verifier: " + " / ".join(dict.fromkeys(loader[:2]))
    return "the kernel refused to load the scheduler"


def _kernel_stage(load: dict[str, Any], binary: bool = False) -> VerificationStage:
    if not load:
        return VerificationStage(name=StageName.KERNEL_VERIFIER, result=StageResult.FAILED, message="the VM never tried to load it")
    if load.get("rc") != 0:
        log = load.get("log", "")
        return VerificationStage(
            name=StageName.KERNEL_VERIFIER,
            result=StageResult.FAILED,
            message=refusal(int(load.get("rc", 1)), log, binary)[:4000],
            log=decisive_verifier_lines(log)[-16000:],
        )
    return VerificationStage(
        name=StageName.KERNEL_VERIFIER, result=StageResult.PASSED, message=f"loaded; sched_ext {load.get('state')}, ops {load.get('ops')}"
    )


def _dynamic_problems(reports: list[dict[str, Any]], index: int, candidate: LoadableCandidate) -> list[str]:
    label = f"c{index}"
    problems = []
    for workload in SUITE:
        run = _result_of(reports, label, workload)
        if not run:
            problems.append(f"{workload}: no result")
        elif not candidate.runs_as(run.get("ops")) or run.get("state") != "enabled":
            problems.append(f"{workload}: ran under ops '{run.get('ops')}' (state {run.get('state')}), not {candidate.ops_name}")
        elif run.get("rc") != 0 or not run.get("result"):
            problems.append(f"{workload}: exited {run.get('rc')} without a result (stall or timeout)")
    after = next((r for r in reports if r.get("event") == "after" and r.get("candidate") == index), {})
    if after.get("state") != "enabled":
        problems.append(f"scheduler no longer attached after the suite (state {after.get('state')})")
    if not candidate.binary:
        problems += slow_callbacks(after.get("progs") or [], read_object(candidate.obj).programs)
    return problems


def slow_callbacks(progs: list[dict[str, Any]], programs: list[str]) -> list[str]:
    """Callbacks whose mean run time (bpf_stats) is beyond SLOW_CALLBACK_NS.

    The kernel names a program by its first 15 characters; of several with one name (an
    earlier candidate's not yet freed), the newest is this candidate's.
    """
    newest: dict[str, dict[str, Any]] = {}
    for prog in sorted(progs, key=lambda p: int(p.get("id", 0))):
        newest[str(prog.get("name", ""))] = prog
    slow = []
    for name in programs:
        prog = newest.get(name[:PROG_NAME_LEN], {})
        calls, spent = int(prog.get("run_cnt", 0)), int(prog.get("run_time_ns", 0))
        if calls >= SLOW_CALLBACK_MIN_CALLS and spent / calls > SLOW_CALLBACK_NS:
            slow.append(f"callback {name} took {spent / calls / 1e6:.1f} ms on average over {calls} calls (limit "
                        f"{SLOW_CALLBACK_NS / 1e6:g} ms): while it runs, its CPU schedules nothing")
    return slow


def _dynamic_stage(reports: list[dict[str, Any]], index: int, candidate: LoadableCandidate) -> VerificationStage:
    problems = _dynamic_problems(reports, index, candidate)
    dmesg = next((r.get("log", "") for r in reports if r.get("event") == "dmesg" and r.get("candidate") == index), "")
    ejection = EJECTION.search(dmesg)
    if ejection and "unregistered from user space" not in ejection.group("reason"):
        problems.insert(0, f"ejected by the kernel: {ejection.group('reason')}")
    if problems:
        return VerificationStage(
            name=StageName.DYNAMIC, result=StageResult.FAILED, message="; ".join(problems)[:4000], log=dmesg[-16000:]
        )
    return VerificationStage(
        name=StageName.DYNAMIC,
        result=StageResult.PASSED,
        message=f"every workload ran under {candidate.ops_name}; no ejection, stall or error exit",
    )


def gate_rounds(reports: list[dict[str, Any]], label: str, candidate: LoadableCandidate | None) -> Rounds:
    """Each part's measured rounds under `label`; a round that ran under another scheduler
    than `candidate` (None: the kernel's own), or gave no result, counts as None."""
    rounds: Rounds = {}
    for report in reports:
        if report.get("event") != "gate" or report.get("label") != label or report.get("round", 0) <= WARM_UP_ROUNDS:
            continue
        ran_under = report.get("ops") if report.get("state") == "enabled" else None
        expected = candidate.runs_as(ran_under) if candidate else ran_under is None
        valid = report.get("rc") == 0 and expected and isinstance(report.get("result"), dict)
        rounds.setdefault(report.get("part", ""), []).append(report["result"] if valid else None)
    return rounds


def outcomes(vm: VmResult, candidates: list[LoadableCandidate], goal: PerformanceGoal | None = None) -> list[ExecutionOutcome]:
    results = []
    baseline = gate_rounds(vm.reports, "baseline", None) if goal else {}
    for index, candidate in enumerate(candidates):
        load = next((r for r in vm.reports if r.get("event") == "load" and r.get("candidate") == index), {})
        kernel = _kernel_stage(load, candidate.binary is not None)
        if kernel.result != StageResult.PASSED:
            dynamic = VerificationStage(name=StageName.DYNAMIC, result=StageResult.SKIPPED, message="not loaded")
            results.append(ExecutionOutcome(kernel, dynamic, []))
            continue
        dynamic = _dynamic_stage(vm.reports, index, candidate)
        judgement = None
        if goal and dynamic.result == StageResult.PASSED:
            judgement = judge(goal, baseline, gate_rounds(vm.reports, f"c{index}", candidate))
        workloads = compare(vm.reports, f"c{index}")
        if judgement:
            workloads += [c for c in (judgement.measure, judgement.batch) if c]
        results.append(ExecutionOutcome(kernel, dynamic, workloads, judgement))
    return results
