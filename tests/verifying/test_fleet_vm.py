"""A revision verified on two kernels its nodes run: Debian's trixie-backports and sid
kernels, both provisioned into the cache, one micro-VM boot each shared by the candidates.

A third node runs a kernel no Debian suite carries: the report leaves it to that node's
preflight. Asked again, the second kernel's verdicts come from memory, without a boot.
"""

from __future__ import annotations

import time

import pytest

from schedcp.provisioning.kernel import provision_kernels
from schedcp.templates import builtin_templates
from schedcp.verifying.fleet_kernels import NodeKernel, extend_to_fleet
from schedcp.verifying.verifier import Candidate, verify_all
from tests.verifying.conftest import BAD

# Two cold boots and, the first time, the sid kernel into the cache.
pytestmark = [pytest.mark.vm, pytest.mark.timeout(1800)]

FOREIGN = "6.8.0-45-generic"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory):
    kernels = provision_kernels()
    if len(kernels) < 2:
        pytest.skip(f"trixie-backports and sid carry one release today ({kernels[0].release}): no second kernel")
    fifo = builtin_templates()["fifo"]
    candidates = [Candidate("fifo", fifo.source(), fifo.defaults()),
                  Candidate("bad_memory", (BAD / "bad_memory.bpf.c").read_text())]
    nodes = [NodeKernel(k.release, k.btf_sha256) for k in kernels] + [NodeKernel(FOREIGN, "c" * 64)]
    memory = tmp_path_factory.mktemp("verified")
    started = time.monotonic()
    first = verify_all(candidates, kernel=kernels[0])
    on_first = time.monotonic() - started
    started = time.monotonic()
    reports = extend_to_fleet(candidates, [r.model_copy(deep=True) for r in first], nodes, kernels[0], memory)
    on_others = time.monotonic() - started
    started = time.monotonic()
    again = extend_to_fleet(candidates, [r.model_copy(deep=True) for r in first], nodes, kernels[0], memory)
    remembered = time.monotonic() - started
    print(f"\n{len(candidates)} candidates: {kernels[0].release} {on_first:.1f}s (one boot), "
          f"{', '.join(k.release for k in kernels[1:])} {on_others:.1f}s (one boot each, the safe candidates), "
          f"asked again {remembered:.2f}s (no boot)")
    return kernels, {c.label: r for c, r in zip(candidates, reports, strict=True)}, again


def test_the_report_lists_both_debian_kernels_it_was_proven_on(fleet) -> None:
    kernels, reports, _ = fleet
    report = reports["fifo"]
    assert report.passed, report.failure()
    assert [(k.release, k.suite, k.passed) for k in report.kernels] == [(k.release, k.suite, True) for k in kernels]
    assert [k.btf_sha256 for k in report.kernels] == [k.btf_sha256 for k in kernels]
    assert all("dynamic passed" in k.message for k in report.kernels), report.kernels


def test_a_kernel_no_suite_carries_is_left_to_the_nodes_preflight(fleet) -> None:
    _, reports, _ = fleet
    assert reports["fifo"].unverified_kernels == [FOREIGN]


def test_a_candidate_refused_on_the_first_kernel_is_not_booted_on_the_others(fleet) -> None:
    kernels, reports, _ = fleet
    report = reports["bad_memory"]
    assert not report.passed
    assert [(k.release, k.passed) for k in report.kernels] == [(kernels[0].release, False)]
    assert report.failure().startswith("kernelVerifier: the kernel verifier rejected it"), report.failure()


def test_asked_again_the_verdicts_come_from_memory(fleet) -> None:
    _, reports, again = fleet
    assert [(r.passed, r.kernels) for r in again] == [(r.passed, r.kernels) for r in reports.values()]
