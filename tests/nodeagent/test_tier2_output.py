"""How the agent reads the BCC collector's stdout: a real child process stands in for BCC.

BCC prints plain text on stdout when it cannot compile (no kernel headers), so the reader
meets lines that are not reports; it must neither die on them nor hide them.
"""

from __future__ import annotations

import sys
import time

import pytest

from schedcp_node_agent.tier2 import Tier2Profiler

pytestmark = pytest.mark.unit

# Read the collector's source from stdin as `python -` would, then speak.
_PRELUDE = "import sys, time; sys.stdin.read(); "
HEADERS_MISSING = "Unable to find kernel headers. Try rebuilding kernel with CONFIG_IKHEADERS=m (module)"


def _collector(body: str) -> list[str]:
    return [sys.executable, "-c", _PRELUDE + body]


def _wait_for(condition, seconds: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_plain_text_line_before_the_reports_does_not_stop_the_reader() -> None:
    reports = (
        f"print({HEADERS_MISSING!r}, flush=True); "
        "print('{\"ready\": true}', flush=True); "
        "print('{\"seconds\": 1.0, \"cgroups\": {\"42\": {\"wakeups\": 7}}}', flush=True); "
        "time.sleep(60)"
    )
    profiler = Tier2Profiler(_collector(reports))
    profiler.start()
    try:
        assert profiler.ready.wait(30), profiler.failure
        assert _wait_for(lambda: profiler.summary(42).wakeups_per_second == 7.0)
    finally:
        profiler.stop()


def test_a_collector_that_only_printed_text_fails_with_that_text() -> None:
    profiler = Tier2Profiler(_collector(f"print({HEADERS_MISSING!r}, flush=True); sys.exit(1)"))
    profiler.start()

    assert _wait_for(lambda: profiler.failure is not None), "the reader never reported the collector's exit"
    assert profiler.failure is not None
    assert "exited (1)" in profiler.failure
    assert "Unable to find kernel headers" in profiler.failure
    assert not profiler.ready.is_set()
