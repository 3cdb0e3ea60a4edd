"""The verifier's verdicts after a boot: one sentence for what happened, whatever happened."""

from __future__ import annotations

import pytest

from schedcp.api.v1alpha1.revision import StageName, StageResult, VerificationStage
from schedcp.microvm.runner import VmResult
from schedcp.verifying.execution import ExecutionOutcome, refusal, slow_callbacks
from schedcp.verifying.verifier import _unfinished

pytestmark = pytest.mark.unit


GAVE_UP_LOG = "libbpf: prog 'spin': -- BEGIN PROG LOAD LOG --\n0: R1=ctx()\nBPF program is too large. Processed 1000001 insn\n" \
              "processed 1000001 insns (limit 1000000)\n-- END PROG LOAD LOG --\nlibbpf: prog 'spin': failed to load: -7\n"
REJECTED_LOG = "libbpf: prog 'hold': -- BEGIN PROG LOAD LOG --\n0: R1=ctx()\n5: (85) call bpf_task_acquire#123\n" \
               "Unreleased reference id=2 alloc_insn=5\nprocessed 9 insns\n-- END PROG LOAD LOG --\n"


@pytest.mark.parametrize(
    ("rc", "log", "expected"),
    [
        (255, GAVE_UP_LOG, "the kernel verifier gave up after 1,000,001 instructions"),
        (124, "", "the kernel verifier had not decided after"),
        (143, "libbpf: loading object from obj/c0.bpf.o\n", "the kernel verifier had not decided after"),
        (255, REJECTED_LOG, "the kernel verifier rejected it: Unreleased reference id=2 alloc_insn=5"),
        (255, "libbpf: extern (func ksym) 'scx_bpf_nope': not found in kernel or module BTFs\n",
         "the loader refused it before the verifier: libbpf: extern (func ksym) 'scx_bpf_nope': not found"),
    ],
)
def test_a_kernel_refusal_says_what_happened(rc, log, expected) -> None:
    assert refusal(rc, log).startswith(expected)


def test_a_callback_that_runs_long_on_average_is_named_and_the_newest_program_of_a_name_counts() -> None:
    progs = [
        {"id": 3, "name": "slow_dispatch", "run_cnt": 50, "run_time_ns": 50 * 9_000_000},  # an earlier candidate's
        {"id": 9, "name": "slow_dispatch", "run_cnt": 40, "run_time_ns": 40 * 30_000_000},
        {"id": 10, "name": "slow_enqueue", "run_cnt": 400, "run_time_ns": 400 * 5_000},
        {"id": 11, "name": "slow_init", "run_cnt": 1, "run_time_ns": 90_000_000},  # once: not a hot path
    ]
    assert slow_callbacks(progs, ["slow_dispatch", "slow_enqueue", "slow_init"]) == [
        "callback slow_dispatch took 30.0 ms on average over 40 calls (limit 2 ms): while it runs, its CPU schedules nothing"
    ]
    assert slow_callbacks([{"id": 1, "name": "a_very_long_cal", "run_cnt": 3, "run_time_ns": 10**9}],
                          ["a_very_long_callback_name"])



def test_a_boot_that_runs_out_of_time_says_what_each_unfinished_candidate_was_doing() -> None:
    vm = VmResult(reports=[{"event": "load", "candidate": 0, "rc": 0}, {"event": "dmesg", "candidate": 0},
                           {"event": "load", "candidate": 1, "rc": 0}],
                  console="SeaBIOS (version 1.16)\n...", timed_out=True, finished=False, seconds=400.0, accelerator="tcg")
    loaded = ExecutionOutcome(VerificationStage(name=StageName.KERNEL_VERIFIER, result=StageResult.PASSED, message="loaded"),
                              VerificationStage(name=StageName.DYNAMIC, result=StageResult.FAILED, message="?"), [])
    never = ExecutionOutcome(VerificationStage(name=StageName.KERNEL_VERIFIER, result=StageResult.FAILED, message="never"),
                             VerificationStage(name=StageName.DYNAMIC, result=StageResult.SKIPPED, message=""), [])
    running = _unfinished(vm, 1, loaded)
    assert running[0].result == "Passed"
    assert running[1].message == ("the VM ran out of its time budget after 400 s while it ran the workloads: "
                                  "a stall the watchdog did not end")
    assert _unfinished(vm, 2, never)[0].message == "the VM ran out of its time budget after 400 s while the kernel verifier was checking it"
    assert _unfinished(vm, 3, never)[0].message.startswith("not verified: the VM ran out of its time budget after 400 s, before its turn")
