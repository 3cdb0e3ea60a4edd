"""NodeSchedulerState: the truth about one node's scheduler (cluster-scoped, named after the node).

Spec is the operator's intent for the node, status is the node agent's observation
(bpfman-operator's per-node state objects follow the same split). The object's name is
the node's name, which is what lets the API server enforce that an agent writes only its
own node's object.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from schedcp.api.v1alpha1.base import (
    SHA256_HEX,
    ApiModel,
    Conditions,
    ObjectReference,
    RevisionReference,
    SchedulingMetrics,
)


class WorkloadClass(StrEnum):
    LATENCY = "latency"
    THROUGHPUT = "throughput"
    BATCH = "batch"


class PodClass(ApiModel):
    """A pod on this node and the class a class-aware scheduler should give its cgroup."""

    namespace: Annotated[str, Field(min_length=1, max_length=63)]
    name: Annotated[str, Field(min_length=1, max_length=253)]
    uid: Annotated[str, Field(min_length=1, max_length=64)]
    workload_class: WorkloadClass


class NodeSchedulerStateSpec(ApiModel):
    desired_revision: Annotated[
        RevisionReference | None,
        Field(description="Unset means the kernel's default scheduler."),
    ] = None
    policy_ref: ObjectReference | None = None
    pod_classes: Annotated[list[PodClass], Field(max_length=1024)] = []
    replace_foreign_scheduler: Annotated[
        bool, Field(description="Unload a sched_ext scheduler this agent did not load.")
    ] = False
    shared_kernel_with: Annotated[
        str | None,
        Field(max_length=253, description="This node shares its kernel (same boot id) with that node, whose "
              "agent loads and unloads for both; this node's agent only reports."),
    ] = None


class KernelFacts(ApiModel):
    release: Annotated[str, Field(max_length=128)]
    boot_id: Annotated[str | None, Field(max_length=64)] = None
    sched_ext: bool = False
    btf: bool = False
    btf_sha256: Annotated[str | None, Field(pattern=SHA256_HEX, description="Digest of /sys/kernel/btf/vmlinux: "
                                            "which build of the release this is.")] = None
    bpffs_mounted: bool = False
    cgroup_version: Annotated[int | None, Field(ge=1, le=2)] = None
    cpus: Annotated[int | None, Field(ge=1)] = None
    numa_nodes: Annotated[int | None, Field(ge=1)] = None
    smt: bool | None = None


class SchedExtState(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    ENABLING = "enabling"
    DISABLING = "disabling"
    UNSUPPORTED = "unsupported"


class ActiveScheduler(ApiModel):
    state: SchedExtState
    ops: Annotated[str | None, Field(max_length=128)] = None
    enable_seq: Annotated[int | None, Field(ge=0)] = None
    revision: RevisionReference | None = None
    loaded_at: datetime | None = None


class Ejection(ApiModel):
    reason: Annotated[str, Field(max_length=1024)]
    revision: Annotated[str | None, Field(max_length=253)] = None
    time: datetime


class Preflight(ApiModel):
    """The agent's load of a revision's object on this node's kernel, without attaching it:
    the kernel verifier's verdict on the node itself, before anything is unloaded."""

    revision: RevisionReference
    passed: bool
    message: Annotated[str, Field(max_length=1024)] = ""
    log: Annotated[str, Field(max_length=4096, description="The verifier's decisive lines.")] = ""
    duration_seconds: Annotated[float, Field(ge=0)] = 0.0
    time: datetime


class ProfilingTier(StrEnum):
    PROC = "tier1-proc"
    EBPF = "tier2-ebpf"


class PodProfile(ApiModel):
    namespace: Annotated[str, Field(max_length=63)]
    name: Annotated[str, Field(max_length=253)]
    cgroup_id: Annotated[int | None, Field(ge=0)] = None
    metrics: SchedulingMetrics


class Profiling(ApiModel):
    tier: ProfilingTier
    reason: Annotated[str, Field(max_length=1024)] = ""
    window_seconds: Annotated[int, Field(ge=1)] = 60
    pods: Annotated[list[PodProfile], Field(max_length=256)] = []


class NodeSchedulerStateStatus(ApiModel):
    observed_generation: Annotated[int | None, Field(ge=0)] = None
    conditions: Conditions = []
    agent_version: Annotated[str | None, Field(max_length=64)] = None
    heartbeat_time: Annotated[datetime | None, Field(description=(
        "When the agent last wrote this status. It writes when something changed, else every few minutes; "
        "its liveness is the Lease named after the node in the agent's namespace, renewed far more often."))] = None
    kernel: KernelFacts | None = None
    active: ActiveScheduler | None = None
    last_known_good: RevisionReference | None = None
    last_ejection: Ejection | None = None
    preflight: Annotated[Preflight | None, Field(description="The latest preflight of a revision on this node.")] = None
    profiling: Profiling | None = None
