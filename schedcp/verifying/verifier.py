"""The execution verifier's API: source (+ tunables) in, a VerificationReport out.

A source is BPF C, or an scx binary's canonical JSON (`TemplateSource.text()`), whose
"object" is that text: its digest pins the binary's digest and its arguments.

Candidates that fail the static stage never boot anything; the others share one micro-VM
boot, in which the workload suite also runs once under the default scheduler. With a
PerformanceGoal, a fourth stage (the performance gate) judges each safe candidate against
that scheduler, and a report passes only if the candidate beats it; without one, the
report has the three safety stages.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from schedcp.api.v1alpha1.revision import StageName, StageResult, VerificationReport, VerificationStage
from schedcp.api.v1alpha1.template import BinarySource, parse_binary
from schedcp.building import BuildFailed, BuiltObject, compile_scheduler
from schedcp.microvm.runner import VmResult
from schedcp.provisioning.kernel import KernelArtifacts, provision_kernel
from schedcp.templates import sha256_text
from schedcp.verifying import static
from schedcp.verifying.execution import ExecutionOutcome, LoadableCandidate, boot_and_run, outcomes
from schedcp.verifying.kernel_names import kernel_names
from schedcp.verifying.performance import PerformanceGoal, performance_stage

OPS_NAME = re.compile(r'\.name\s*=\s*"([^"]+)"')
PASSED_CODE = ("compiles; GPL; only sched_ext struct_ops programs; every helper, kfunc and map type on the allow-list; "
               "bounded maps")
PASSED_BINARY = "a pinned scx binary, its digest checked; arguments are its tunables' flags within their ranges"


@dataclass(frozen=True)
class Candidate:
    label: str
    source: str
    tunables: dict[str, int] = field(default_factory=dict)

    @property
    def binary(self) -> BinarySource | None:
        try:
            return parse_binary(self.source)
        except ValidationError:
            return None

    @property
    def ops_name(self) -> str | None:
        if self.binary:
            return self.binary.ops_prefix
        match = OPS_NAME.search(self.source)
        return match.group(1) if match else None


@dataclass
class _StaticResult:
    stage: VerificationStage
    built: BuiltObject | None


def _binary_static(candidate: Candidate, binary: BinarySource) -> tuple[list[str], BuiltObject | None]:
    found, path = static.check_binary(binary, candidate.tunables)
    built = BuiltObject(path=path, sha256=sha256_text(candidate.source)) if path else None
    return found.problems, built


def _compiled_static(candidate: Candidate, kernel: KernelArtifacts, workdir: Path) -> tuple[list[str], BuiltObject | None, str]:
    problems = static.check_source(candidate.source).problems
    try:
        built = compile_scheduler(candidate.source, candidate.tunables, kernel.vmlinux_h, workdir)
    except BuildFailed as failure:
        return ["does not compile with warnings as errors", *problems], None, failure.log
    return problems + static.check_object(built.path, kernel_names(kernel)).problems, built, ""


def _static_stage(candidate: Candidate, kernel: KernelArtifacts, workdir: Path) -> _StaticResult:
    started = time.monotonic()
    binary = candidate.binary
    if binary:
        (problems, built), log = _binary_static(candidate, binary), ""
    else:
        problems, built, log = _compiled_static(candidate, kernel, workdir)
    result = StageResult.FAILED if problems else StageResult.PASSED
    stage = VerificationStage(
        name=StageName.STATIC,
        result=result,
        duration_seconds=round(time.monotonic() - started, 3),
        message="; ".join(problems)[:4000] or (PASSED_BINARY if binary else PASSED_CODE),
        log=log[-16000:],
    )
    return _StaticResult(stage, built if result == StageResult.PASSED else None)


def _skipped(name: StageName, why: str) -> VerificationStage:
    return VerificationStage(name=name, result=StageResult.SKIPPED, message=why)


def verify_all(candidates: list[Candidate], *, dynamic: bool = True, kernel: KernelArtifacts | None = None,
               goal: PerformanceGoal | None = None) -> list[VerificationReport]:
    kernel = kernel or provision_kernel()
    goal = goal if dynamic else None
    with tempfile.TemporaryDirectory(prefix="schedcp-build-") as tmp:
        statics = [_static_stage(c, kernel, Path(tmp) / str(i)) for i, c in enumerate(candidates)]
        reports = [
            VerificationReport(
                passed=False,
                kernel_release=kernel.release,
                object_sha256=s.built.sha256 if s.built else None,
                ops_name=c.ops_name,
                stages=[s.stage, _skipped(StageName.KERNEL_VERIFIER, "static stage failed"),
                        _skipped(StageName.DYNAMIC, "static stage failed")]
                if not s.built
                else [s.stage],
            )
            for c, s in zip(candidates, statics, strict=True)
        ]
        loadable = [(i, LoadableCandidate(s.built.path, c.ops_name or "", c.binary))
                    for i, (c, s) in enumerate(zip(candidates, statics, strict=True)) if s.built]
        if loadable and dynamic:
            _run_in_vm(reports, loadable, kernel, goal)
        elif loadable:
            for i, _ in loadable:
                reports[i].stages += [_skipped(StageName.KERNEL_VERIFIER, "not requested"), _skipped(StageName.DYNAMIC, "not requested")]
    for report in reports:
        if goal and not any(stage.name == StageName.PERFORMANCE for stage in report.stages):
            report.stages.append(_skipped(StageName.PERFORMANCE, "not safe: not judged on performance"))
        report.passed = all(stage.result == StageResult.PASSED for stage in report.stages)
    return reports


def _unfinished(vm: VmResult, position: int, outcome: ExecutionOutcome) -> list[VerificationStage]:
    """The stages of a candidate whose turn the boot did not finish: what it was doing then."""
    why = f"the VM {'ran out of its time budget' if vm.timed_out else 'ended'} after {vm.seconds:.0f} s"
    console = vm.console[-8000:]
    loaded = [int(r.get("candidate", -1)) for r in vm.events("load")]
    if position in loaded and outcome.kernel_stage.result == StageResult.PASSED:
        return [outcome.kernel_stage,
                VerificationStage(name=StageName.DYNAMIC, result=StageResult.FAILED, log=console,
                                  message=f"{why} while it ran the workloads: a stall the watchdog did not end")]
    reached = position in loaded or position == max(loaded, default=-1) + 1
    message = f"{why} while the kernel verifier was checking it" if reached else f"not verified: {why}, before its turn"
    return [VerificationStage(name=StageName.KERNEL_VERIFIER, result=StageResult.FAILED, message=message, log=console),
            _skipped(StageName.DYNAMIC, "not loaded")]


def _run_in_vm(reports: list[VerificationReport], loadable: list[tuple[int, LoadableCandidate]], kernel: KernelArtifacts,
               goal: PerformanceGoal | None) -> None:
    vm = boot_and_run([c for _, c in loadable], kernel, goal)
    shared = f" (one {vm.accelerator.upper()} boot of {vm.seconds:.1f}s shared by {len(loadable)} candidates)"
    # A candidate's turn ends with its dmesg report: the ones before a timeout keep their verdicts.
    done = {r.get("candidate") for r in vm.events("dmesg")}
    for position, ((i, _), outcome) in enumerate(zip(loadable, outcomes(vm, [c for _, c in loadable], goal), strict=True)):
        if not vm.finished and position not in done:
            reports[i].stages += _unfinished(vm, position, outcome)
            continue
        outcome.dynamic_stage.duration_seconds = vm.seconds
        outcome.dynamic_stage.message += shared
        reports[i].stages += [outcome.kernel_stage, outcome.dynamic_stage]
        reports[i].workloads = outcome.workloads
        if outcome.performance:
            reports[i].stages.append(performance_stage(outcome.performance))
            reports[i].performance = outcome.performance


def verify(source: str, tunables: dict[str, int] | None = None, *, dynamic: bool = True,
           goal: PerformanceGoal | None = None) -> VerificationReport:
    return verify_all([Candidate("candidate", source, tunables or {})], dynamic=dynamic, goal=goal)[0]
