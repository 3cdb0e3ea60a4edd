"""When the agent writes its status: on news, on a new window of numbers, at the refresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schedcp.api.v1alpha1.base import SchedulingMetrics
from schedcp.api.v1alpha1.nodestate import (
    ActiveScheduler,
    KernelFacts,
    NodeSchedulerStateStatus,
    PodProfile,
    Profiling,
    ProfilingTier,
)
from schedcp_node_agent.lease import lease_body
from schedcp_node_agent.status_gate import StatusGate, Why

pytestmark = pytest.mark.unit

INTERVAL, WINDOW, REFRESH = 10.0, 60.0, 300.0
T0 = datetime(2026, 12, 2, tzinfo=UTC)


def status(at: float = 0.0, delay: int = 900, pods: tuple[str, ...] = ("web", "batch"),
           state: str = "disabled") -> NodeSchedulerStateStatus:
    profiles = [PodProfile(namespace="ns", name=name, metrics=SchedulingMetrics(run_delay_p50_micros=delay + i, samples=20))
                for i, name in enumerate(pods)]
    return NodeSchedulerStateStatus(
        heartbeat_time=T0 + timedelta(seconds=at), kernel=KernelFacts(release="6.12", boot_id="b", sched_ext=True),
        active=ActiveScheduler(state=state),
        profiling=Profiling(tier=ProfilingTier.PROC, window_seconds=int(WINDOW), pods=profiles))


def settled_gate() -> StatusGate:
    """A gate whose last write was at 0 and whose last change is a window behind."""
    gate = StatusGate(INTERVAL, WINDOW, REFRESH)
    gate.written(status(at=-WINDOW), -WINDOW)
    gate.written(status(at=0.0), 0.0)
    return gate


def test_the_first_status_is_written() -> None:
    assert StatusGate(INTERVAL, WINDOW, REFRESH).due(status(), 0.0) == Why.FIRST


def test_a_steady_node_writes_only_at_the_refresh() -> None:
    gate = settled_gate()
    assert [gate.due(status(at=t), t) for t in (10.0, 60.0, 290.0)] == [None, None, None]
    assert gate.due(status(at=REFRESH), REFRESH) == Why.REFRESH


def test_the_heartbeat_alone_is_no_news() -> None:
    gate = settled_gate()
    assert gate.due(status(at=5.0), 5.0) is None


@pytest.mark.parametrize("changed", [
    status(state="enabled"),
    status(pods=("web",)),
    status().model_copy(update={"kernel": KernelFacts(release="6.12", boot_id="rebooted", sched_ext=True)}),
])
def test_what_the_operator_acts_on_is_written_at_once(changed: NodeSchedulerStateStatus) -> None:
    assert settled_gate().due(changed, 1.0) == Why.CHANGED


def test_pods_reordered_by_cpu_are_the_same_pods() -> None:
    gate = settled_gate()
    reordered = status()
    assert reordered.profiling is not None
    reordered.profiling.pods.reverse()
    assert gate.due(reordered, 10.0) is None


def test_moving_numbers_of_a_settled_node_are_written_once_per_window() -> None:
    gate = settled_gate()
    assert gate.due(status(delay=950), INTERVAL) is None
    assert gate.due(status(delay=950), WINDOW) == Why.WINDOW


def test_after_a_change_the_numbers_go_out_every_interval_for_one_window() -> None:
    gate = settled_gate()
    gate.written(status(state="enabled"), 100.0)  # the canary's scheduler loaded
    moved = status(delay=300, state="enabled")
    assert gate.due(moved, 105.0) is None, "not before an interval"
    assert gate.due(moved, 110.0) == Why.SETTLING
    gate.written(moved, 110.0)
    later = status(delay=200, state="enabled")
    assert gate.due(later, 150.0) == Why.SETTLING
    assert gate.due(later, 160.0) is None, "a window after the change: settled, once per window again"
    assert gate.due(later, 170.0) == Why.WINDOW


def test_a_lease_outlives_a_few_missed_renewals() -> None:
    body = lease_body("node-a", "schedcp-system", 10.0, T0)
    assert body["metadata"] == {"name": "node-a", "namespace": "schedcp-system"}
    assert body["spec"] == {"holderIdentity": "node-a", "leaseDurationSeconds": 40,
                            "renewTime": "2026-12-02T00:00:00.000000Z"}
