"""SchedulerTemplate: one entry of the policy repository (cluster-scoped).

Built-ins are installed by the chart from `bpf/`; generated schedulers that won a rollout
are promoted here. Tunables are typed and bounded so that a planner (LLM or offline) can
only pick values the scheduler's author declared safe.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from schedcp.api.v1alpha1.base import (
    SHA256_HEX,
    ApiModel,
    Conditions,
    SchedulingMetrics,
    cel,
    k8s_extensions,
)

SOURCE_MAX_LENGTH = 262_144


class TunableType(StrEnum):
    U32 = "u32"
    U64 = "u64"
    S32 = "s32"
    S64 = "s64"
    BOOL = "bool"


class Tunable(ApiModel):
    model_config = ConfigDict(
        json_schema_extra=k8s_extensions(
            validations=[
                cel("self.minimum <= self.maximum", "minimum must not exceed maximum"),
                cel(
                    "self.minimum <= self.default && self.default <= self.maximum",
                    "default must lie within [minimum, maximum]",
                    ".default",
                ),
            ]
        )
    )

    name: Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z_][a-z0-9_]*$")]
    type: TunableType
    default: int
    minimum: int
    maximum: int
    description: Annotated[str, Field(max_length=1024)] = ""

    @model_validator(mode="after")
    def _default_within_range(self) -> Tunable:
        # The same rules as the CEL above, for metadata read outside the API server.
        if not self.minimum <= self.default <= self.maximum:
            raise ValueError(f"tunable {self.name}: default {self.default} outside [{self.minimum}, {self.maximum}]")
        return self

    def check(self, value: int) -> None:
        if not self.minimum <= value <= self.maximum:
            raise ValueError(f"tunable {self.name}={value} outside [{self.minimum}, {self.maximum}]")


class Readiness(StrEnum):
    EXPERIMENTAL = "Experimental"
    BETA = "Beta"
    PRODUCTION = "Production"


class Origin(StrEnum):
    BUILT_IN = "BuiltIn"
    GENERATED = "Generated"


class TemplateSource(ApiModel):
    code: Annotated[str, Field(min_length=1, max_length=SOURCE_MAX_LENGTH)]
    sha256: Annotated[str, Field(pattern=SHA256_HEX)]


ShortText = Annotated[str, Field(max_length=512)]


class SchedulerTemplateSpec(ApiModel):
    description: Annotated[str, Field(min_length=1, max_length=4096)]
    algorithm: Annotated[str, Field(min_length=1, max_length=4096)]
    use_cases: Annotated[list[ShortText], Field(max_length=32)] = []
    limitations: Annotated[list[ShortText], Field(max_length=32)] = []
    tunables: Annotated[
        list[Tunable],
        Field(max_length=32, json_schema_extra=k8s_extensions(list_type="map", list_map_keys=["name"])),
    ] = []
    readiness: Readiness = Readiness.EXPERIMENTAL
    origin: Origin = Origin.BUILT_IN
    source: TemplateSource


class Outcome(StrEnum):
    IMPROVED = "Improved"
    NEUTRAL = "Neutral"
    REGRESSED = "Regressed"
    EJECTED = "Ejected"
    REJECTED = "Rejected"


class HistoryEntry(ApiModel):
    """One measured use of the template: what it did to which kind of workload."""

    workload_signature: Annotated[str, Field(max_length=256)]
    revision: Annotated[str, Field(max_length=253)]
    node: Annotated[str | None, Field(max_length=253)] = None
    outcome: Outcome
    before: SchedulingMetrics | None = None
    after: SchedulingMetrics | None = None
    note: Annotated[str, Field(max_length=2048)] = ""
    time: datetime


class SchedulerTemplateStatus(ApiModel):
    conditions: Conditions = []
    history: Annotated[list[HistoryEntry], Field(max_length=100)] = []
