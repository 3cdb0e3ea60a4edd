"""A revision verified on every kernel its nodes run, where Debian provides that kernel.

Nodes report their kernel's release and the digest of its BTF (NodeSchedulerState
`status.kernel`). Each distinct release other than the verifier's own is looked up in the
Debian suites (`provision_release`); a kernel a suite provides, and whose BTF is the one
the nodes report, is booted once with every candidate that passed on the verifier's own
kernel, and runs the safety stages there (static, kernel verifier, dynamic; the
performance gate is the first kernel's). The object is the one the nodes get: built
against the verifier's own kernel's header, relocated by CO-RE on each kernel, so its
digest must come out the same on every kernel. A release no suite provides (another
distribution, a build Debian dropped) is listed as unverified: the node's agent preflights
the object on its own kernel before it attaches it.

A kernel's verdict on a candidate is remembered like the verifier's reports (cache.py):
only deterministic ones, keyed by the question.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from schedcp.api.v1alpha1.revision import StageName, StageResult, VerificationReport, VerifiedKernel
from schedcp.cache import cache_root, write_atomically
from schedcp.provisioning.kernel import KernelArtifacts, provision_kernel, provision_release
from schedcp.verifying.cache import report_key
from schedcp.verifying.verifier import Candidate, verify_all

log = logging.getLogger(__name__)

_OWN_DIGEST = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


@dataclass(frozen=True)
class NodeKernel:
    """A kernel as a node reports it."""

    release: str
    btf_sha256: str | None = None


@dataclass
class Fleet:
    """The kernels a rollout's nodes run, apart from the verifier's own: those Debian
    provides (booted), and the releases of the others (left to the nodes' preflight)."""

    kernels: list[KernelArtifacts] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)


def _provisioned(release: str) -> KernelArtifacts | None:
    """The Debian kernel `release`; None also when the archive cannot be reached: the nodes'
    preflight still stands between that kernel and the object."""
    try:
        return provision_release(release)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
        log.warning("kernel %s not provisioned: %s", release, error)
        return None


def fleet_of(nodes: Iterable[NodeKernel], primary: KernelArtifacts,
             provision: Callable[[str], KernelArtifacts | None] = _provisioned) -> Fleet:
    fleet = Fleet()
    seen: dict[str, KernelArtifacts | None] = {primary.release: primary}
    for node in sorted(set(nodes), key=lambda n: (n.release, n.btf_sha256 or "")):
        if node.release not in seen:
            seen[node.release] = provision(node.release)
            if (found := seen[node.release]) is not None:
                fleet.kernels.append(found)
        found = seen[node.release]
        # Same release, another build (a rebuilt or patched kernel): Debian's is not it.
        same_build = found is not None and (node.btf_sha256 is None or node.btf_sha256 == found.btf_sha256)
        label = node.release if found is None else f"{node.release} (BTF {(node.btf_sha256 or '')[:12]})"
        if not same_build and label not in fleet.unverified:
            fleet.unverified.append(label)
    return fleet


def proof(kernel: KernelArtifacts, report: VerificationReport, object_sha256: str | None) -> VerifiedKernel:
    """What `report` (a run on `kernel`) proves of the object whose digest is `object_sha256`."""
    failed = next((s for s in report.stages if s.result == StageResult.FAILED), None)
    if failed:
        passed, message = False, f"{failed.name}: {failed.message}"
    elif report.object_sha256 != object_sha256:
        passed, message = False, f"the object built there has sha256 {str(report.object_sha256)[:12]}, not the verified one"
    else:
        passed = all(s.result == StageResult.PASSED for s in report.stages)
        message = ", ".join(f"{s.name} {s.result.lower()}" for s in report.stages)
    return VerifiedKernel(release=kernel.release, suite=kernel.suite, package_version=kernel.package_version,
                          btf_sha256=kernel.btf_sha256, passed=passed, message=message[:4096])


def _booting(kernel: KernelArtifacts, primary: KernelArtifacts) -> KernelArtifacts:
    """`kernel` to boot, with the primary's header to build against: the nodes' object."""
    return kernel.model_copy(update={"vmlinux_h": primary.vmlinux_h})


def _memory(candidate: Candidate, kernel: KernelArtifacts, primary: KernelArtifacts, directory: Path) -> Path:
    question = f"{kernel.release} {kernel.btf_sha256} built for {primary.release} {primary.btf_sha256} {_OWN_DIGEST}"
    return directory / f"fleet-{report_key(candidate.source, candidate.tunables, True, question)}.json"


def _on_kernel(candidates: list[Candidate], kernel: KernelArtifacts, primary: KernelArtifacts,
               digests: list[str | None], directory: Path) -> list[VerifiedKernel]:
    """Each candidate's verdict on `kernel`: remembered, or from one boot shared by the rest."""
    paths = [_memory(c, kernel, primary, directory) for c in candidates]
    found = {i: VerifiedKernel.model_validate_json(p.read_text()) for i, p in enumerate(paths) if p.exists()}
    asked = [i for i in range(len(candidates)) if i not in found]
    if asked:
        reports = verify_all([candidates[i] for i in asked], kernel=_booting(kernel, primary))
        for i, report in zip(asked, reports, strict=True):
            verdict = found[i] = proof(kernel, report, digests[i])
            if verdict.passed or _static_refused(report):
                write_atomically(paths[i], verdict.model_dump_json())
    return [found[i] for i in range(len(candidates))]


def _static_refused(report: VerificationReport) -> bool:
    return any(s.name == StageName.STATIC and s.result == StageResult.FAILED for s in report.stages)


def extend_to_fleet(candidates: list[Candidate], reports: list[VerificationReport], nodes: Iterable[NodeKernel],
                    primary: KernelArtifacts | None = None, directory: Path | None = None) -> list[VerificationReport]:
    """`reports` (the verifier's, on `primary`) with the nodes' other kernels: each lists
    the kernels it was verified on, and passes only if it passed on every one of them."""
    primary = primary or provision_kernel()
    fleet = fleet_of(nodes, primary)
    for report in reports:
        report.kernels = [proof(primary, report, report.object_sha256)]
        report.unverified_kernels = fleet.unverified[:64]
    going_on = [i for i, r in enumerate(reports) if r.passed]
    for kernel in fleet.kernels:
        verdicts = _on_kernel([candidates[i] for i in going_on], kernel, primary,
                              [reports[i].object_sha256 for i in going_on], directory or cache_root() / "verified")
        for i, verdict in zip(going_on, verdicts, strict=True):
            reports[i].kernels = [*reports[i].kernels, verdict][:16]
            reports[i].passed = reports[i].passed and verdict.passed
    return reports
