"""What the operator and a design's process tell each other: the task it hands the process
on stdin, and the progress and result the process keeps in the design's journal.

Apart from design_task.py because the operator reads these without importing the
designer: the Claude SDK alone is about 45 MB of the operator's memory, and only a
design's process calls it.
"""

from __future__ import annotations

from typing import Literal

from kubernetes import client
from pydantic import BaseModel

from schedcp.api.v1alpha1.base import ObjectReference
from schedcp.api.v1alpha1.policy import ChosenRevision, DesignCost, Reason, SchedulerPolicySpec, TriedDesign
from schedcp_operator.design.journal import DesignJournal

PROGRESS_KEY = "progress.json"
RESULT_KEY = "result.json"
TRY_LATER = 75  # EX_TEMPFAIL: the process's exit status when Claude was unreachable


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
