"""schedcp.io/v1alpha1."""

from schedcp.api.v1alpha1.base import API_VERSION, GROUP, VERSION, Condition, ConditionStatus
from schedcp.api.v1alpha1.kinds import (
    ALL_KINDS,
    NODE_SCHEDULER_STATE,
    SCHEDULER_POLICY,
    SCHEDULER_REVISION,
    SCHEDULER_TEMPLATE,
    SCHEDULING_GOVERNANCE,
    Kind,
)

__all__ = [
    "ALL_KINDS",
    "API_VERSION",
    "GROUP",
    "NODE_SCHEDULER_STATE",
    "SCHEDULER_POLICY",
    "SCHEDULER_REVISION",
    "SCHEDULER_TEMPLATE",
    "SCHEDULING_GOVERNANCE",
    "VERSION",
    "Condition",
    "ConditionStatus",
    "Kind",
]
