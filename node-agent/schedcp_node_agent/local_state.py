"""What the agent must remember across its own restarts, in a file on the node.

The bpffs says which revision is loaded; this file adds what the kernel cannot hold:
the last revision that ran healthily (the rollback target), revisions the kernel
ejected (never retried on this node), and recent agent start times (a crash loop is
itself a reason to fall back). Written atomically: a crash mid-write leaves the old file.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field

from schedcp.api.v1alpha1.base import RevisionReference
from schedcp.api.v1alpha1.nodestate import Ejection

STATE_FILE = "agent-state.json"
MAX_REMEMBERED_STARTS = 16


class AgentMemory(BaseModel):
    last_known_good: RevisionReference | None = None
    loaded_revision: RevisionReference | None = None
    loaded_ops: str | None = None
    loaded_at: datetime | None = None
    ejected: Annotated[dict[str, Ejection], Field(description="revision name -> why the kernel ejected it")] = {}
    starts: list[float] = []

    def record_start(self, now: float | None = None) -> None:
        self.starts = [*self.starts, now or time.time()][-MAX_REMEMBERED_STARTS:]

    def starts_within(self, seconds: float, now: float | None = None) -> int:
        limit = (now or time.time()) - seconds
        return sum(1 for t in self.starts if t >= limit)


class MemoryFile:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / STATE_FILE

    def load(self) -> AgentMemory:
        try:
            return AgentMemory.model_validate_json(self.path.read_text())
        except (OSError, ValueError):
            return AgentMemory()

    def save(self, memory: AgentMemory) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(memory.model_dump_json(indent=1))
        os.replace(partial, self.path)
