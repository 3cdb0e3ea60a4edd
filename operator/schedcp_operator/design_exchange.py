"""What the operator and its Claude-facing processes tell each other: the task it hands a
design's process on stdin and the progress and result that process keeps in the design's
journal; the request for a lesson (lesson_task.py).

Apart from design_task.py and lesson_task.py because the operator reads these without
importing the designer: the Claude SDK alone is about 45 MB of the operator's memory, and
only those processes call it.
"""

from __future__ import annotations

from typing import Literal

from kubernetes import client
from pydantic import BaseModel

from schedcp.api.v1alpha1.base import ObjectReference
from schedcp.api.v1alpha1.policy import (
    Budget,
    ChosenRevision,
    DesignCost,
    LearnedOutcome,
    Reason,
    SchedulerPolicySpec,
    TriedDesign,
)
from schedcp_operator.design.journal import DesignJournal
from schedcp_operator.design.profile import WorkloadProfile

PROGRESS_KEY = "progress.json"
RESULT_KEY = "result.json"
TRY_LATER = 75  # EX_TEMPFAIL: the process's exit status when Claude was unreachable
# One call, bounded: the lesson must never hold a lifecycle step for long.
LESSON_BUDGET = Budget(max_calls=2, max_tokens=20_000, max_cost_usd="0.05", max_wall_seconds=60)
LESSON_TIMEOUT_SECONDS = 30.0
LESSON_MAX_LENGTH = 300


class LessonRequest(BaseModel):
    model: str
    profile: WorkloadProfile
    learned: LearnedOutcome


class DesignTask(BaseModel):
    """What the operator hands the design's process."""

    namespace: str
    name: str
    uid: str
    spec: SchedulerPolicySpec
    spec_digest: str
    artifacts_namespace: str

    @property
    def ref(self) -> ObjectReference:
        return ObjectReference(name=self.name, namespace=self.namespace)

    def journal(self, api: client.ApiClient) -> DesignJournal:
        return DesignJournal(api, self.artifacts_namespace, self.namespace, self.name, self.uid, self.spec_digest)


class DesignProgress(BaseModel):
    reason: Literal[Reason.DESIGNING, Reason.DESIGNER_UNREACHABLE] = Reason.DESIGNING
    message: str


class DesignResult(BaseModel):
    """How the design ended: a revision (Designed), or the reason there is none."""

    reason: Literal[Reason.DESIGNED, Reason.NO_IMPROVEMENT, Reason.DESIGN_FAILED, Reason.BUDGET_EXHAUSTED]
    message: str
    revision: ChosenRevision | None = None
    cost: DesignCost | None = None
    tried: list[TriedDesign] = []
