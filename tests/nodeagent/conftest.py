"""Fixtures for the node agent's tests: real pod cgroups on this host (see host_pods)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from schedcp_cli.host_pods import HostPods, writable_reason
from schedcp_node_agent.pod_cgroups import DEFAULT_ROOT, detect_hierarchies


@pytest.fixture
def host_pods() -> Iterator[HostPods]:
    try:
        hierarchies = detect_hierarchies(DEFAULT_ROOT)
    except FileNotFoundError as missing:
        pytest.skip(str(missing))
    reason = writable_reason(hierarchies)
    if reason:
        pytest.skip(reason)
    pods = HostPods(hierarchies)
    try:
        yield pods
    finally:
        pods.close()
