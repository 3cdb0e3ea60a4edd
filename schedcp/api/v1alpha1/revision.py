"""SchedulerRevision: one concrete, immutable scheduler artifact (cluster-scoped).

Cluster-scoped rather than namespaced (a refinement of DESIGN.md): a revision is loaded
into node kernels, which are cluster-level, it is content-addressed so two policies that
arrive at the same template and tunables share it, and node agents read revisions
cluster-wide anyway. The owning policy is recorded in `spec.policyRef`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field

from schedcp.api.v1alpha1.base import (
    DECIMAL_USD,
    SHA256_HEX,
    ApiModel,
    Conditions,
    ObjectReference,
    cel,
    k8s_extensions,
)
from schedcp.api.v1alpha1.policy import CandidateVerdict, DesignerKind, ObjectiveKind
from schedcp.api.v1alpha1.template import TemplateSource

VERIFIER_LOG_MAX_LENGTH = 16_384


class Provenance(ApiModel):
    designer: DesignerKind
    model: Annotated[str | None, Field(max_length=100)] = None
    prompt_sha256: Annotated[str | None, Field(pattern=SHA256_HEX)] = None
    calls: Annotated[int, Field(ge=0)] = 0
    input_tokens: Annotated[int, Field(ge=0)] = 0
    output_tokens: Annotated[int, Field(ge=0)] = 0
    cost_usd: Annotated[str, Field(pattern=DECIMAL_USD)] = "0"
    rationale: Annotated[str, Field(max_length=8192)] = ""


class SchedulerRevisionSpec(ApiModel):
    model_config = ConfigDict(
        json_schema_extra=k8s_extensions(
            validations=[cel("self == oldSelf", "a SchedulerRevision's spec is immutable")]
        )
    )

    policy_ref: ObjectReference | None = None
    template: Annotated[str | None, Field(max_length=253)] = None
    source: TemplateSource
    tunables: Annotated[dict[str, int], Field(max_length=32)] = {}
    provenance: Provenance


class StageName(StrEnum):
    STATIC = "static"
    KERNEL_VERIFIER = "kernelVerifier"
    DYNAMIC = "dynamic"
    PERFORMANCE = "performance"


class StageResult(StrEnum):
    PASSED = "Passed"
    FAILED = "Failed"
    SKIPPED = "Skipped"


class VerificationStage(ApiModel):
    name: StageName
    result: StageResult
    duration_seconds: Annotated[float, Field(ge=0)] = 0.0
    message: Annotated[str, Field(max_length=4096)] = ""
    log: Annotated[str, Field(max_length=VERIFIER_LOG_MAX_LENGTH)] = ""


class Better(StrEnum):
    LOWER = "lower"
    HIGHER = "higher"


class WorkloadComparison(ApiModel):
    """One workload measure under the default scheduler and under the candidate, same boot."""

    workload: Annotated[str, Field(max_length=63)]
    metric: Annotated[str, Field(max_length=63)]
    better: Better
    baseline: float | None = None
    candidate: float | None = None
    # Each measured round (warm-up dropped), where the measure was repeated; the two
    # values above are then their medians.
    baseline_rounds: Annotated[list[float], Field(max_length=8)] = []
    candidate_rounds: Annotated[list[float], Field(max_length=8)] = []


class PerformanceJudgement(ApiModel):
    """The performance gate: the policy's objective measured on the replay of its profile,
    under EEVDF and under the candidate in the same boot."""

    objective: ObjectiveKind
    replayed: Annotated[str, Field(max_length=1024, description="The guest commands of one round, run at once.")] = ""
    measure: WorkloadComparison
    batch: Annotated[WorkloadComparison | None, Field(description="The other pods' throughput, where the objective "
                                                                  "may cost them at most maxBatchLossPercent.")] = None
    max_batch_loss_percent: Annotated[int, Field(ge=0, le=100)] = 10
    verdict: CandidateVerdict


class VerifiedKernel(ApiModel):
    """A kernel the report's object was verified on, in a micro-VM booted with it."""

    release: Annotated[str, Field(max_length=128)]
    suite: Annotated[str | None, Field(max_length=63, description="The Debian suite it was provisioned from.")] = None
    package_version: Annotated[str | None, Field(max_length=128)] = None
    btf_sha256: Annotated[str | None, Field(pattern=SHA256_HEX, description="Digest of its BTF, as "
                                            "/sys/kernel/btf/vmlinux holds it: what a node's kernel is matched by.")] = None
    passed: bool
    message: Annotated[str, Field(max_length=4096, description="The stage that failed there, and why.")] = ""


class VerificationReport(ApiModel):
    passed: bool
    kernel_release: Annotated[str | None, Field(max_length=128)] = None
    kernels: Annotated[list[VerifiedKernel], Field(max_length=16, description=(
        "Every kernel the object was verified on: the verifier's own, and each distinct kernel of the target "
        "nodes that a Debian suite provides. The stages above are those of the first."))] = []
    unverified_kernels: Annotated[list[str], Field(max_length=64, description=(
        "Releases the target nodes run that no Debian suite provides: their agents' preflight decides there."))] = []
    object_sha256: Annotated[str | None, Field(pattern=SHA256_HEX)] = None
    stages: Annotated[list[VerificationStage], Field(max_length=4)] = []
    ops_name: Annotated[str | None, Field(max_length=128)] = None
    workloads: Annotated[list[WorkloadComparison], Field(max_length=16)] = []
    performance: PerformanceJudgement | None = None

    def failure(self) -> str | None:
        """Why it did not pass: its first failed stage, else the first kernel it failed on."""
        failed = next((s for s in self.stages if s.result == StageResult.FAILED), None)
        if failed:
            return f"{failed.name}: {failed.message}"
        kernel = next((k for k in self.kernels if not k.passed), None)
        return f"on kernel {kernel.release}: {kernel.message}" if kernel else None

    @property
    def safe(self) -> bool:
        """Every safety stage ran and passed (the performance stage aside)."""
        safety = [s for s in self.stages if s.name != StageName.PERFORMANCE]
        return any(s.name == StageName.DYNAMIC for s in safety) and all(s.result == StageResult.PASSED for s in safety)

    @property
    def not_better(self) -> bool:
        """Safe, but the performance gate found it no better than the kernel's default."""
        return self.safe and self.performance is not None and self.performance.verdict != CandidateVerdict.BETTER


class Approval(ApiModel):
    """A person's approval of the revision for a policy, as the API server authenticated them."""

    policy: ObjectReference
    user: Annotated[str, Field(min_length=1, max_length=512)]
    time: datetime


class SchedulerRevisionStatus(ApiModel):
    conditions: Conditions = []
    verification: VerificationReport | None = None
    approvals: Annotated[list[Approval], Field(max_length=32)] = []


