"""The Workload Profile: what the observation role hands to planning.

Raw pod profiles (tier 1 and tier 2 metrics per pod and node) are reduced to the few
facts a planner decides on: how the protected pods and the rest behave, which traits
that shows, and what the user asked for. Traits are computed by fixed thresholds, so
the offline planner and the repository ranking can key on them deterministically; the
LLM observation role may add a description but not change the measurements.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from schedcp.api.v1alpha1.base import ApiModel, SchedulingMetrics
from schedcp.api.v1alpha1.policy import ObjectiveKind
from schedcp.verifying.performance import PerformanceGoal
from schedcp.verifying.replay import shape_from_profile


class Trait(StrEnum):
    LATENCY_SENSITIVE = "latency-sensitive"  # protected pods wake often and run briefly
    CPU_BOUND = "cpu-bound"  # long timeslices, rarely sleep
    MIXED_LOAD = "mixed-load"  # latency-sensitive pods next to CPU-bound ones
    LONG_TAIL_BATCH = "long-tail-batch"  # many short jobs and a few long ones
    INTERACTIVE = "interactive"  # sleep/wake cycles, short bursts
    CONTENDED = "contended"  # CPU pressure or run delay is high
    THROTTLED = "throttled"  # CFS quota throttling


class WorkloadProfile(ApiModel):
    objective: ObjectiveKind
    goal: Annotated[str, Field(max_length=2000)] = ""
    max_batch_loss_percent: Annotated[int, Field(ge=0, le=100)] = 10
    description: Annotated[str, Field(max_length=2000)] = ""
    traits: list[Trait] = []
    protected: SchedulingMetrics | None = None
    others: SchedulingMetrics | None = None
    protected_pods: Annotated[int, Field(ge=0)] = 0
    other_pods: Annotated[int, Field(ge=0)] = 0
    nodes: Annotated[int, Field(ge=0)] = 0


def performance_goal(profile: WorkloadProfile) -> PerformanceGoal:
    """What the verifier's performance gate judges this workload's designs on: its
    objective, on the replay of its measured profile, with its batch-loss tolerance."""
    return PerformanceGoal(objective=profile.objective, replay=shape_from_profile(profile.protected, profile.others),
                           max_batch_loss_percent=profile.max_batch_loss_percent)
