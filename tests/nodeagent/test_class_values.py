"""The cgroup classes the agent writes are the ones the schedulers' header defines."""

from __future__ import annotations

import re

import pytest

from schedcp.templates import BPF_DIR
from schedcp_node_agent.applier import CLASS_MAP, CLASS_VALUES

pytestmark = pytest.mark.unit
HEADER = (BPF_DIR / "include" / "schedcp.bpf.h").read_text()


def test_the_agent_writes_the_values_of_the_headers_enum() -> None:
    enum = {name.lower(): int(value) for name, value in re.findall(r"\bSCHEDCP_CLASS_(\w+) = (\d+)", HEADER)}
    assert enum == {str(kind): value for kind, value in CLASS_VALUES.items()}


def test_the_agent_writes_the_map_the_header_declares() -> None:
    assert re.search(rf"\}} {CLASS_MAP} SEC\(\"\.maps\"\)", HEADER)
