"""SchedulerTemplate: one entry of the policy repository (cluster-scoped).

Built-ins are installed by the chart from `bpf/`; generated schedulers that won a rollout
are promoted here. Tunables are typed and bounded so that a planner (LLM or offline) can
only pick values the scheduler's author declared safe.

A template's source is either BPF C (`code`, built into an object the node loads) or a
user-space scheduler binary of the scx project (`binary`: crate, version and the binary's
digest; the node runs it as a process). A binary's tunables are its command-line flags:
each names its `flag`, and the only arguments a binary ever gets are those flags with
values inside their ranges, so no planner can pass a free-form argument.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from schedcp.api.v1alpha1.base import (
    SHA256_HEX,
    ApiModel,
    Conditions,
    ObjectReference,
    SchedulingMetrics,
    cel,
    k8s_extensions,
)

SOURCE_MAX_LENGTH = 262_144
FLAG = r"^--[a-z][a-z0-9-]*$"
# What a binary's argument list may hold: a flag, or a flag with an integer value.
ARGUMENT = r"^--[a-z][a-z0-9-]*(=-?[0-9]+)?$"


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
    flag: Annotated[str | None, Field(pattern=FLAG, max_length=63,
                                      description="A binary's command-line flag for this tunable; "
                                                  "a bool is the bare flag when 1, absent when 0.")] = None

    @model_validator(mode="after")
    def _default_within_range(self) -> Tunable:
        # The same rules as the CEL above, for metadata read outside the API server.
        if not self.minimum <= self.default <= self.maximum:
            raise ValueError(f"tunable {self.name}: default {self.default} outside [{self.minimum}, {self.maximum}]")
        # A bare flag can only switch something on: its absence must be the default.
        if self.flag and self.type == TunableType.BOOL and (self.default, self.minimum, self.maximum) != (0, 0, 1):
            raise ValueError(f"tunable {self.name}: a bool flag is 0 (absent, the default) or 1 (given)")
        return self

    def check(self, value: int) -> None:
        if not self.minimum <= value <= self.maximum:
            raise ValueError(f"tunable {self.name}={value} outside [{self.minimum}, {self.maximum}]")


def command_arguments(tunables: list[Tunable], values: dict[str, int]) -> list[str]:
    """A binary's arguments for `values` (every declared tunable, checked): each valued flag
    with its value, even the default, so that a revision does not depend on what a later
    version of the binary takes as default; each bool flag only when 1."""
    arguments = []
    for tunable in tunables:
        if tunable.flag is None:
            raise ValueError(f"tunable {tunable.name} has no flag")
        value = values[tunable.name]
        tunable.check(value)
        if tunable.type != TunableType.BOOL:
            arguments.append(f"{tunable.flag}={value}")
        elif value:
            arguments.append(tunable.flag)
    return arguments


class Readiness(StrEnum):
    EXPERIMENTAL = "Experimental"
    BETA = "Beta"
    PRODUCTION = "Production"


class Origin(StrEnum):
    BUILT_IN = "BuiltIn"
    GENERATED = "Generated"


class BinarySource(ApiModel):
    """An scx scheduler binary, identified by crate, version and the digest of its bytes."""

    crate: Annotated[str, Field(pattern=r"^scx_[a-z0-9_]+$", max_length=63)]
    version: Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$", max_length=32)]
    sha256: Annotated[str, Field(pattern=SHA256_HEX, description="The binary file's digest.")]
    ops_prefix: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=63, description=(
        "The kernel reports the running scheduler's ops as <opsPrefix>_<version>_<target>."))]
    arguments: Annotated[list[Annotated[str, Field(pattern=ARGUMENT, max_length=96)]], Field(
        max_length=32, description="Derived from the tunables (empty in a template).")] = []

    def runs_as(self, ops: str | None) -> bool:
        return ops is not None and ops.startswith(f"{self.ops_prefix}_")


class TemplateSource(ApiModel):
    model_config = ConfigDict(
        json_schema_extra=k8s_extensions(
            validations=[cel("has(self.code) != has(self.binary)", "a source is either code or a binary")]
        )
    )

    code: Annotated[str | None, Field(min_length=1, max_length=SOURCE_MAX_LENGTH)] = None
    binary: BinarySource | None = None
    sha256: Annotated[str, Field(pattern=SHA256_HEX, description="The digest of the code, or of the binary's "
                                                                 "canonical JSON (which pins its own digest).")]

    @model_validator(mode="after")
    def _one_kind(self) -> TemplateSource:
        if (self.code is None) == (self.binary is None):
            raise ValueError("a source is either code or a binary")
        return self

    def text(self) -> str:
        """What the verifier is asked about and the digest covers: the code, or the binary's
        canonical JSON (crate, version, digest, ops prefix, arguments)."""
        return self.code if self.code is not None else binary_text(self.binary)  # type: ignore[arg-type]


def binary_text(binary: BinarySource) -> str:
    return binary.model_dump_json(by_alias=True)


def parse_binary(text: str) -> BinarySource | None:
    """The binary a source text names, None for BPF C (which never starts with a brace)."""
    return BinarySource.model_validate_json(text) if text.lstrip().startswith("{") else None


ShortText = Annotated[str, Field(max_length=512)]


class TemplateProvenance(ApiModel):
    """Where a promoted template comes from: the rollout of generated code that improved a workload."""

    policy: ObjectReference
    revision: Annotated[str, Field(min_length=1, max_length=253)]
    workload_signature: Annotated[str, Field(max_length=256)]
    before: SchedulingMetrics | None = None
    after: SchedulingMetrics | None = None


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
    provenance: Annotated[TemplateProvenance | None, Field(description="A generated template's origin.")] = None

    def configured(self, values: dict[str, int]) -> TemplateSource:
        """The source a node runs for these tunable values (every declared one): the code as it
        is (its tunables become defines at build time), or the binary with its arguments."""
        if self.source.binary is None:
            return self.source
        binary = self.source.binary.model_copy(update={"arguments": command_arguments(self.tunables, values)})
        return TemplateSource(binary=binary, sha256=hashlib.sha256(binary_text(binary).encode()).hexdigest())


class Outcome(StrEnum):
    IMPROVED = "Improved"
    NEUTRAL = "Neutral"
    REGRESSED = "Regressed"
    EJECTED = "Ejected"
    REJECTED = "Rejected"


class HistoryEntry(ApiModel):
    """One measured use of the template: what it did to which kind of workload. A revision
    has at most one entry per outcome (the key that makes recording idempotent)."""

    workload_signature: Annotated[str, Field(max_length=256)]
    revision: Annotated[str, Field(max_length=253)]
    node: Annotated[str | None, Field(max_length=253)] = None
    policy: ObjectReference | None = None
    outcome: Outcome
    tunables: Annotated[dict[str, int], Field(max_length=32, description="The configuration that was measured.")] = {}
    before: SchedulingMetrics | None = None
    after: SchedulingMetrics | None = None
    note: Annotated[str, Field(max_length=2048)] = ""
    time: datetime


class SchedulerTemplateStatus(ApiModel):
    conditions: Conditions = []
    history: Annotated[list[HistoryEntry], Field(max_length=100)] = []
