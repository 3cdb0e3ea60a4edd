"""Verification reports, remembered by what they verified.

A report depends only on the source, the tunables, whether the micro-VM run was asked
for, the kernel and the verifier itself; the same question asked again (an operator that
restarted mid-rollout, two policies that arrive at the same template) gets the same
answer without another boot. Only deterministic answers are kept: every stage passed, or
the static stage refused the source. A VM that timed out under load says nothing about
the candidate and is asked again next time.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from schedcp.api.v1alpha1.revision import StageName, StageResult, VerificationReport
from schedcp.building import WORKLOAD_DIR
from schedcp.cache import cache_root, write_atomically
from schedcp.provisioning.kernel import provision_kernel
from schedcp.templates import INCLUDE_DIR
from schedcp.verifying import verifier
from schedcp.verifying.performance import PerformanceGoal

# Whatever changes what the verifier checks, or how objects are built (the report pins the
# object's digest), changes the key.
_HERE = Path(__file__).parent
_VERIFIER_FILES = (_HERE / "verifier.py", _HERE / "execution.py", _HERE / "static.py", _HERE / "guest.sh",
                   _HERE / "allowlist.py", _HERE / "bpf_object.py", _HERE / "kernel_names.py", INCLUDE_DIR / "schedcp.bpf.h",
                   _HERE / "performance.py", _HERE.parent / "building.py", _HERE.parent / "provisioning" / "scx_guest.sh")


def _verifier_digest() -> str:
    # The workloads' sources too: the gate's measures are what they print.
    files = [*_VERIFIER_FILES, *sorted(WORKLOAD_DIR.glob("*.[ch]"))]
    return hashlib.sha256(b"".join(path.read_bytes() for path in files)).hexdigest()


def report_key(source: str, tunables: dict[str, int], dynamic: bool, kernel_release: str,
               goal: PerformanceGoal | None = None) -> str:
    question = json.dumps(
        {"source": source, "tunables": dict(sorted(tunables.items())), "dynamic": dynamic,
         "kernel": kernel_release, "verifier": _verifier_digest(),
         "goal": goal.model_dump(mode="json") if goal else None},
        sort_keys=True,
    )
    return hashlib.sha256(question.encode()).hexdigest()


def _deterministic(report: VerificationReport) -> bool:
    static = next((s for s in report.stages if s.name == StageName.STATIC), None)
    return report.passed or (static is not None and static.result == StageResult.FAILED)


def verify_remembered(source: str, tunables: dict[str, int], dynamic: bool = True,
                      directory: Path | None = None, goal: PerformanceGoal | None = None) -> VerificationReport:
    directory = directory or cache_root() / "verified"
    path = directory / f"{report_key(source, tunables, dynamic, provision_kernel().release, goal)}.json"
    if path.exists():
        return VerificationReport.model_validate_json(path.read_text())
    report = verifier.verify(source, tunables, dynamic=dynamic, goal=goal)
    if _deterministic(report):
        write_atomically(path, report.model_dump_json())
    return report
