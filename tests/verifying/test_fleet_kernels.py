"""Which kernels a rollout's nodes make the verifier boot, and what a run on one proves."""

from __future__ import annotations

from pathlib import Path

import pytest

from schedcp.api.v1alpha1.revision import StageName, StageResult, VerificationReport, VerificationStage, VerifiedKernel
from schedcp.provisioning.kernel import KernelArtifacts
from schedcp.verifying.fleet_kernels import NodeKernel, fleet_of, proof

pytestmark = pytest.mark.unit


def kernel(release: str, btf: str) -> KernelArtifacts:
    path = Path("/nonexistent") / release
    return KernelArtifacts(release=release, suite="sid", package_version="1", vmlinuz=path, vmlinux=path, config=path,
                           vmlinux_h=path, btf_sha256=btf * 64)


PRIMARY = kernel("7.3.1+deb13-amd64", "a")
DEBIAN = {"7.2.9+deb14-amd64": kernel("7.2.9+deb14-amd64", "b")}


def test_each_other_release_is_provisioned_once_and_those_debian_lacks_are_left_to_preflight() -> None:
    asked: list[str] = []

    def provision(release: str) -> KernelArtifacts | None:
        asked.append(release)
        return DEBIAN.get(release)

    nodes = [NodeKernel("7.3.1+deb13-amd64", "a" * 64), NodeKernel("7.2.9+deb14-amd64", "b" * 64),
             NodeKernel("7.2.9+deb14-amd64", None), NodeKernel("6.8.0-45-generic", "c" * 64),
             NodeKernel("6.8.0-45-generic", "c" * 64)]
    fleet = fleet_of(nodes, PRIMARY, provision)
    assert [k.release for k in fleet.kernels] == ["7.2.9+deb14-amd64"]
    assert fleet.unverified == ["6.8.0-45-generic"]
    assert sorted(asked) == ["6.8.0-45-generic", "7.2.9+deb14-amd64"]


def test_a_release_whose_btf_is_not_debians_build_is_not_covered_by_it() -> None:
    fleet = fleet_of([NodeKernel("7.2.9+deb14-amd64", "d" * 64), NodeKernel("7.3.1+deb13-amd64", "e" * 64)],
                     PRIMARY, DEBIAN.get)
    assert [k.release for k in fleet.kernels] == ["7.2.9+deb14-amd64"]
    assert fleet.unverified == ["7.2.9+deb14-amd64 (BTF dddddddddddd)", "7.3.1+deb13-amd64 (BTF eeeeeeeeeeee)"]


def stages(kernel_result: StageResult, message: str = "") -> list[VerificationStage]:
    return [VerificationStage(name=StageName.STATIC, result=StageResult.PASSED),
            VerificationStage(name=StageName.KERNEL_VERIFIER, result=kernel_result, message=message),
            VerificationStage(name=StageName.DYNAMIC, result=StageResult.PASSED if kernel_result == StageResult.PASSED
                              else StageResult.SKIPPED)]


def test_a_kernel_proves_the_object_only_if_every_stage_passed_on_that_very_object() -> None:
    other = DEBIAN["7.2.9+deb14-amd64"]
    good = VerificationReport(passed=True, object_sha256="f" * 64, stages=stages(StageResult.PASSED))
    assert proof(other, good, "f" * 64).passed
    rebuilt = proof(other, good, "0" * 64)
    assert not rebuilt.passed and "not the verified one" in rebuilt.message
    refused = proof(other, VerificationReport(passed=False, object_sha256="f" * 64,
                                              stages=stages(StageResult.FAILED, "the kernel refused to load the scheduler")),
                    "f" * 64)
    assert (refused.passed, refused.release, refused.btf_sha256) == (False, other.release, "b" * 64)
    assert refused.message == "kernelVerifier: the kernel refused to load the scheduler"


def test_a_report_that_failed_on_another_kernel_says_which() -> None:
    report = VerificationReport(passed=False, stages=stages(StageResult.PASSED), kernels=[
        VerifiedKernel(release="7.3.1+deb13-amd64", passed=True),
        VerifiedKernel(release="7.2.9+deb14-amd64", passed=False, message="kernelVerifier: refused")])
    assert report.failure() == "on kernel 7.2.9+deb14-amd64: kernelVerifier: refused"
