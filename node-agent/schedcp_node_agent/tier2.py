"""Tier-2 profiling: the BCC collector as a child process, summarized per cgroup.

The collector (tier2_collector.py) runs under whichever Python has BCC, given as a
command (`--bcc-python`): in the agent image that is Debian's python3 with
python3-bpfcc, on a VM node a chroot into a BCC root. It is started in the background
because BCC compiles its program first (seconds on a node, a minute under emulation);
until it says it is ready the agent stays on tier 1 and says why.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from collections import deque
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schedcp.lifetime import die_with_parent

log = logging.getLogger("schedcp.agent.tier2")

COLLECTOR = Path(__file__).with_name("tier2_collector.py")


class Tier2Metrics(BaseModel):
    runq_latency_p50_micros: int | None = None
    runq_latency_p99_micros: int | None = None
    wakeups_per_second: float | None = None
    migrations_per_second: float | None = None


def log2_percentile(histogram: dict[int, int], percent: float) -> int | None:
    """The upper bound (µs) of the log2 bucket holding the percentile: never an underestimate."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = percent / 100 * total, 0
    for slot in sorted(histogram):
        seen += histogram[slot]
        if seen >= rank:
            return 1 << (slot + 1)
    return 1 << (max(histogram) + 1)


class Tier2Profiler:
    def __init__(self, python: list[str], interval_seconds: float = 1.0, window_seconds: float = 60.0) -> None:
        self.python = python
        self.interval = interval_seconds
        self._intervals: deque[dict[str, Any]] = deque(maxlen=max(1, round(window_seconds / interval_seconds)))
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self.ready = threading.Event()
        self.failure: str | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [*self.python, "-", "--interval", str(self.interval)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=die_with_parent,
        )
        assert self._process.stdin is not None
        self._process.stdin.write(COLLECTOR.read_text())
        self._process.stdin.close()
        threading.Thread(target=self._read, name="tier2-reader", daemon=True).start()

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def _read(self) -> None:
        assert self._process and self._process.stdout and self._process.stderr
        # BCC itself prints plain text on stdout (e.g. when the kernel headers are missing):
        # such a line is kept for the failure message, never taken for a report.
        text: deque[str] = deque(maxlen=3)
        for line in self._process.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                text.append(line.strip())
                log.info("BCC collector: %s", line.strip())
                continue
            if message.get("ready"):
                self.ready.set()
                log.info("tier 2 (BCC) profiling is running")
            else:
                with self._lock:
                    self._intervals.append(message)
        error = [*text, *self._process.stderr.read().strip().splitlines()[-3:]]
        self.ready.clear()
        self.failure = f"the BCC collector exited ({self._process.wait()}): {' | '.join(error)}"[:900]
        log.warning("%s", self.failure)

    def summary(self, cgroup_id: int) -> Tier2Metrics:
        key = str(cgroup_id)
        with self._lock:
            intervals = list(self._intervals)
        seconds = sum(i["seconds"] for i in intervals)
        if not seconds:
            return Tier2Metrics()
        histogram: dict[int, int] = {}
        counts = {"wakeups": 0, "migrations": 0}
        for interval in intervals:
            entry = interval["cgroups"].get(key, {})
            for slot, count in entry.get("runqLatencyLog2Micros", {}).items():
                histogram[int(slot)] = histogram.get(int(slot), 0) + count
            for name in counts:
                counts[name] += entry.get(name, 0)
        return Tier2Metrics(
            runq_latency_p50_micros=log2_percentile(histogram, 50),
            runq_latency_p99_micros=log2_percentile(histogram, 99),
            wakeups_per_second=round(counts["wakeups"] / seconds, 2),
            migrations_per_second=round(counts["migrations"] / seconds, 2),
        )
