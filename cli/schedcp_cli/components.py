"""schedcp's own components (operator, node agent) run as local processes against a cluster.

Used by the demo and by the tests, which read the components' JSON log lines to follow them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str, describe: Callable[[], str] = str) -> T:
    """Poll `predicate` until it returns something truthy; fail with context after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.3)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}\n{describe()}")


class ComponentProcess:
    """`python -m MODULE ARGS` with KUBECONFIG set, logging to a file."""

    def __init__(self, module: str, args: list[str], kubeconfig: Path, log_path: Path, env: dict[str, str] | None = None):
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env={**os.environ, "KUBECONFIG": str(kubeconfig), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def messages(self) -> list[str]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [json.loads(line).get("message", "") if line.startswith("{") else line for line in lines]

    def recent(self, lines: int = 30) -> str:
        return "\n".join(self.messages()[-lines:])

    def wait_for_message(self, fragment: str, timeout: float = 60) -> None:
        wait_until(lambda: any(fragment in m for m in self.messages()), timeout, f"log line {fragment!r}", self.recent)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self._finish()

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._finish()

    def _finish(self) -> None:
        self.process.wait(timeout=10)
        self._log.close()
