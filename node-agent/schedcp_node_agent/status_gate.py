"""When the agent writes its status: when the operator would see something new, not on a timer.

Every status write reaches the operator as a watch event that kopf parses and queues per
object; at 1000 nodes writing every 10 s that was ~100 events/s, and while kopf fills its
indexes at start-up it holds each object's queued events, which was most of the
operator's peak memory. Liveness is the node's Lease (lease.py), renewed every status
interval; the status is written when what the operator acts on changed (the active
scheduler, conditions, preflight, ejection, kernel facts, the set of profiled pods), when
the profile numbers are of a new window, and at a slow refresh (like the kubelet's
nodeStatusReportFrequency), so a steady node writes rarely. `heartbeatTime` is the time
of the last write.

Numbers of a sliding window move with every sample; written once per window they never
repeat a sample already reported. For one window after a change the numbers go out at
every status interval instead: the operator judges a canary on the window that follows
the change and must not read numbers from before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from schedcp.api.v1alpha1.nodestate import NodeSchedulerStateStatus


class Why(StrEnum):
    FIRST = "first"
    CHANGED = "changed"
    SETTLING = "settling"
    WINDOW = "window"
    REFRESH = "refresh"


def split(status: NodeSchedulerStateStatus) -> tuple[Any, Any]:
    """(what the operator acts on, the profile numbers): neither holds the heartbeat."""
    wire = status.model_dump(mode="json", exclude={"heartbeat_time"})
    pods = (wire.get("profiling") or {}).get("pods") or []
    numbers = {(p["namespace"], p["name"]): p.pop("metrics") for p in pods}
    if pods:  # ordered by CPU, which moves: the set of pods is what matters
        pods.sort(key=lambda p: (p["namespace"], p["name"]))
    return wire, numbers


@dataclass
class StatusGate:
    interval_seconds: float
    window_seconds: float
    refresh_seconds: float
    _facts: Any = None
    _numbers: Any = None
    _written_at: float | None = None
    _changed_at: float = float("-inf")

    def due(self, status: NodeSchedulerStateStatus, clock: float) -> Why | None:
        """Why `status` should be written at `clock` (monotonic seconds), or None."""
        facts, numbers = split(status)
        if self._written_at is None:
            return Why.FIRST
        if facts != self._facts:
            return Why.CHANGED
        since = clock - self._written_at
        if since >= self.refresh_seconds:
            return Why.REFRESH
        if numbers == self._numbers:
            return None
        if since >= self.window_seconds:
            return Why.WINDOW
        if clock - self._changed_at < self.window_seconds and since >= self.interval_seconds:
            return Why.SETTLING
        return None

    def written(self, status: NodeSchedulerStateStatus, clock: float) -> None:
        facts, self._numbers = split(status)
        if facts != self._facts:
            self._changed_at = clock
        self._facts, self._written_at = facts, clock
