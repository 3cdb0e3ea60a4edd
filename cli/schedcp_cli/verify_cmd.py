"""`schedcp verify FILE.bpf.c [--tunable k=v] [--objective latency]`: run the execution
verifier (with an objective, its performance gate too), print its report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from schedcp.api.v1alpha1.policy import ObjectiveKind
from schedcp.api.v1alpha1.revision import StageResult
from schedcp.verifying.performance import PerformanceGoal
from schedcp.verifying.verifier import verify


def _tunable(text: str) -> tuple[str, int]:
    name, _, value = text.partition("=")
    if not name or not value.lstrip("-").isdigit():
        raise argparse.ArgumentTypeError(f"expected NAME=INTEGER, got {text!r}")
    return name, int(value)


def _run(args: argparse.Namespace) -> int:
    goal = PerformanceGoal(objective=args.objective) if args.objective else None
    report = verify(args.file.read_text(), dict(args.tunable), dynamic=not args.static_only, goal=goal)
    if args.json:
        print(json.dumps(report.to_wire(), indent=2))
    else:
        for stage in report.stages:
            print(f"{stage.name:15} {stage.result:8} {stage.message}")
            if stage.log and stage.result == "Failed":
                print("    " + stage.log.strip().replace("\n", "\n    "))
        for w in report.workloads:
            print(f"  {w.workload:15} {w.metric:20} EEVDF {w.baseline}  candidate {w.candidate}  ({w.better} is better)")
    # A report passes only with every stage run; asked for the static stage alone, say how it went.
    static_only = args.static_only and report.stages[0].result == StageResult.PASSED
    if not args.json:
        print("PASSED" if report.passed else "PASSED the static stage (micro-VM stages not run)" if static_only else "FAILED")
    return 0 if report.passed or static_only else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    cmd = subparsers.add_parser("verify", help="verify a sched_ext scheduler: static, kernel verifier, micro-VM run")
    cmd.add_argument("file", type=Path)
    cmd.add_argument("--tunable", action="append", type=_tunable, default=[], metavar="NAME=VALUE")
    cmd.add_argument("--static-only", action="store_true", help="skip the micro-VM stages")
    cmd.add_argument("--objective", type=ObjectiveKind, choices=list(ObjectiveKind),
                     help="also gate on performance: beat EEVDF on this objective, on the replay's default probe")
    cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    cmd.set_defaults(func=_run)
