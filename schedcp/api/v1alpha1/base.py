"""Building blocks shared by every schedcp.io/v1alpha1 kind.

Field names are camelCase on the wire (Kubernetes convention) and snake_case in Python.
Optional fields are omitted rather than null on the wire: structural CRD schemas reject
null unless a field is marked nullable, and omission is what kubectl users expect.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "schedcp.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# RFC 1123 subdomain: what Kubernetes accepts as an object name.
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SHA256_HEX = r"^[a-f0-9]{64}$"
# metav1.Condition's reason format: CamelCase, machine-readable.
CONDITION_REASON = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
# Decimal money amounts travel as strings: Kubernetes API conventions avoid floats in specs.
DECIMAL_USD = r"^[0-9]{1,4}(\.[0-9]{1,6})?$"


def k8s_extensions(**extensions: Any) -> dict[str, Any]:
    """Schema extras (x-kubernetes-*) that the CRD generator copies verbatim."""
    return {f"x-kubernetes-{key.replace('_', '-')}": value for key, value in extensions.items()}


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, str]:
    validation = {"rule": rule, "message": message}
    if field_path:
        validation["fieldPath"] = field_path
    return validation


class ApiModel(BaseModel):
    """Base for every object that crosses the API boundary."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        use_enum_values=True,
        validate_default=True,
    )

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ConditionType(StrEnum):
    """Every condition type the project's kinds carry: one list, so a reader of a status
    and the code that writes it agree on the spelling."""

    READY = "Ready"  # all kinds: the summary kubectl shows
    ACCEPTED = "Accepted"  # policy: the spec makes sense
    PROFILED = "Profiled"  # policy: the selected pods have profiles enough to design from
    DESIGNED = "Designed"  # policy: a design finished with a revision
    VERIFIED = "Verified"  # policy and revision: the revision passed every verifier stage
    ROLLED_OUT = "RolledOut"  # policy: the revision runs on every node it targets
    CONFLICT = "Conflict"  # policy: another policy owns some of its nodes


class Condition(ApiModel):
    """metav1.Condition, field for field."""

    type: Annotated[str, Field(min_length=1, max_length=316, pattern=r"^[A-Za-z][A-Za-z0-9]*$")]
    status: ConditionStatus
    reason: Annotated[str, Field(min_length=1, max_length=1024, pattern=CONDITION_REASON)]
    message: Annotated[str, Field(max_length=32768)] = ""
    last_transition_time: datetime
    observed_generation: Annotated[int | None, Field(ge=0)] = None


Conditions = Annotated[
    list[Condition],
    Field(max_length=32, json_schema_extra=k8s_extensions(list_type="map", list_map_keys=["type"])),
]


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


LabelKey = Annotated[
    str,
    Field(
        min_length=1,
        max_length=317,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$",
    ),
]
LabelValue = Annotated[
    str, Field(max_length=63, pattern=r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
]


class LabelSelectorRequirement(ApiModel):
    model_config = ConfigDict(
        json_schema_extra=k8s_extensions(
            validations=[
                cel(
                    "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0)"
                    " : (!has(self.values) || size(self.values) == 0)",
                    "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist",
                )
            ]
        )
    )

    key: LabelKey
    operator: SelectorOperator
    values: Annotated[list[LabelValue], Field(max_length=64)] = []


class LabelSelector(ApiModel):
    """metav1.LabelSelector with its rules enforced by the schema."""

    match_labels: Annotated[dict[LabelKey, LabelValue], Field(max_length=64)] = {}
    match_expressions: Annotated[list[LabelSelectorRequirement], Field(max_length=32)] = []

    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions


class ObjectReference(ApiModel):
    name: Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
    namespace: Annotated[str | None, Field(max_length=63)] = None


class RevisionReference(ApiModel):
    """A hash-pinned reference: an agent loads nothing whose digest differs."""

    name: Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
    sha256: Annotated[str, Field(pattern=SHA256_HEX)]


class SchedulingMetrics(ApiModel):
    """Scheduling-quality measures of a set of pods, before or after a change."""

    cpu_cores: Annotated[float | None, Field(ge=0)] = None
    run_delay_p50_micros: Annotated[int | None, Field(ge=0)] = None
    run_delay_p99_micros: Annotated[int | None, Field(ge=0)] = None
    run_delay_per_second_micros: Annotated[int | None, Field(ge=0)] = None
    involuntary_switches_per_second: Annotated[float | None, Field(ge=0)] = None
    voluntary_switches_per_second: Annotated[float | None, Field(ge=0)] = None
    timeslice_mean_micros: Annotated[int | None, Field(ge=0)] = None
    throttled_periods_per_second: Annotated[float | None, Field(ge=0)] = None
    throttled_micros_per_second: Annotated[int | None, Field(ge=0)] = None
    threads: Annotated[int | None, Field(ge=0)] = None
    cpu_pressure_some_avg10: Annotated[float | None, Field(ge=0, le=100)] = None
    # Tier 2 (eBPF): per wakeup-to-run event, not averaged per timeslice as run_delay_* are.
    runq_latency_p50_micros: Annotated[int | None, Field(ge=0)] = None
    runq_latency_p99_micros: Annotated[int | None, Field(ge=0)] = None
    wakeups_per_second: Annotated[float | None, Field(ge=0)] = None
    migrations_per_second: Annotated[float | None, Field(ge=0)] = None
    samples: Annotated[int, Field(ge=0)] = 0
