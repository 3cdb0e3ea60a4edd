"""The kinds of schedcp.io/v1alpha1: names, scope, models and `kubectl get` columns.

The CRD generator and the operator both read this table, so a kind's plural or scope is
written down once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from schedcp.api.v1alpha1.base import GROUP, VERSION, ApiModel, ConditionType
from schedcp.api.v1alpha1.governance import SchedulingGovernanceSpec
from schedcp.api.v1alpha1.nodestate import NodeSchedulerStateSpec, NodeSchedulerStateStatus
from schedcp.api.v1alpha1.policy import SchedulerPolicySpec, SchedulerPolicyStatus
from schedcp.api.v1alpha1.revision import SchedulerRevisionSpec, SchedulerRevisionStatus
from schedcp.api.v1alpha1.template import SchedulerTemplateSpec, SchedulerTemplateStatus


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: Literal["string", "integer", "number", "boolean", "date"] = "string"
    priority: int = 0
    description: str = ""


def condition_column(name: str, condition: ConditionType, attribute: str, priority: int = 0) -> PrinterColumn:
    return PrinterColumn(
        name=name,
        json_path=f'.status.conditions[?(@.type=="{condition}")].{attribute}',
        priority=priority,
        description=f"{attribute} of the {condition} condition",
    )


AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    short_names: tuple[str, ...]
    scope: Literal["Namespaced", "Cluster"]
    spec: type[ApiModel]
    # None: an object only people write, which no one reports on.
    status: type[ApiModel] | None
    columns: tuple[PrinterColumn, ...]
    spec_required: bool = True
    categories: tuple[str, ...] = field(default=("schedcp",))

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"

    @property
    def group(self) -> str:
        return GROUP

    @property
    def version(self) -> str:
        return VERSION


SCHEDULER_POLICY = Kind(
    kind="SchedulerPolicy",
    plural="schedulerpolicies",
    short_names=("spol",),
    scope="Namespaced",
    spec=SchedulerPolicySpec,
    status=SchedulerPolicyStatus,
    columns=(
        PrinterColumn("Mode", ".spec.mode"),
        PrinterColumn("Phase", ".status.phase"),
        condition_column("Ready", ConditionType.READY, "status"),
        condition_column("Reason", ConditionType.READY, "reason"),
        PrinterColumn("Revision", ".status.revision.name"),
        PrinterColumn("Nodes", ".status.nodes.targeted", "integer"),
        PrinterColumn("Active", ".status.nodes.active", "integer"),
        PrinterColumn("Objective", ".spec.objective.kind", priority=1),
        PrinterColumn("Designer", ".spec.designer.kind", priority=1),
        AGE,
    ),
)

SCHEDULER_TEMPLATE = Kind(
    kind="SchedulerTemplate",
    plural="schedulertemplates",
    short_names=("stpl",),
    scope="Cluster",
    spec=SchedulerTemplateSpec,
    status=SchedulerTemplateStatus,
    columns=(
        PrinterColumn("Origin", ".spec.origin"),
        PrinterColumn("Readiness", ".spec.readiness"),
        PrinterColumn("Description", ".spec.description", priority=1),
        AGE,
    ),
)

SCHEDULER_REVISION = Kind(
    kind="SchedulerRevision",
    plural="schedulerrevisions",
    short_names=("srev",),
    scope="Cluster",
    spec=SchedulerRevisionSpec,
    status=SchedulerRevisionStatus,
    columns=(
        PrinterColumn("Template", ".spec.template"),
        PrinterColumn("Policy", ".spec.policyRef.name"),
        condition_column("Verified", ConditionType.VERIFIED, "status"),
        PrinterColumn("Designer", ".spec.provenance.designer", priority=1),
        PrinterColumn("SHA256", ".spec.source.sha256", priority=1),
        AGE,
    ),
)

NODE_SCHEDULER_STATE = Kind(
    kind="NodeSchedulerState",
    plural="nodeschedulerstates",
    short_names=("nss",),
    scope="Cluster",
    spec=NodeSchedulerStateSpec,
    status=NodeSchedulerStateStatus,
    spec_required=False,
    columns=(
        PrinterColumn("Kernel", ".status.kernel.release"),
        PrinterColumn("SchedExt", ".status.active.state"),
        PrinterColumn("Ops", ".status.active.ops"),
        PrinterColumn("Desired", ".spec.desiredRevision.name"),
        condition_column("Ready", ConditionType.READY, "status"),
        condition_column("Reason", ConditionType.READY, "reason", priority=1),
        PrinterColumn("Heartbeat", ".status.heartbeatTime", "date", priority=1),
        AGE,
    ),
)

SCHEDULING_GOVERNANCE = Kind(
    kind="SchedulingGovernance",
    plural="schedulinggovernances",
    short_names=("sgov",),
    scope="Cluster",
    spec=SchedulingGovernanceSpec,
    status=None,
    columns=(
        PrinterColumn("Auto", ".spec.allowAuto", "boolean"),
        PrinterColumn("MaxPriority", ".spec.maxPriority", "integer"),
        PrinterColumn("Derived", ".spec.derivedPolicies"),
        PrinterColumn("NeighboursAuto", ".spec.acceptNeighboursAuto", "boolean", priority=1),
        AGE,
    ),
)

ALL_KINDS = (SCHEDULER_POLICY, SCHEDULER_TEMPLATE, SCHEDULER_REVISION, NODE_SCHEDULER_STATE, SCHEDULING_GOVERNANCE)
