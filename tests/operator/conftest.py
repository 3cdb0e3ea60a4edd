"""Operators as real processes against the session's real API server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from schedcp_cli.devcluster.ports import free_port


REPO = Path(__file__).resolve().parents[2]


class OperatorProcess:
    """One `schedcp-operator` process whose JSON log lines tests can wait for."""

    def __init__(self, kubeconfig: Path, log_path: Path, *extra: str) -> None:
        self.log_path = log_path
        self.liveness_port = free_port()
        args = [
            sys.executable, "-m", "schedcp_operator", "--liveness",
            f"http://127.0.0.1:{self.liveness_port}/healthz", "--peering-lifetime", "10", *extra,
        ]
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        env.pop("ANTHROPIC_API_KEY", None)
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def messages(self) -> list[str]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [json.loads(line).get("message", "") if line.startswith("{") else line for line in lines]

    def wait_for_message(self, fragment: str, timeout: float = 60) -> None:
        wait_until(lambda: any(fragment in m for m in self.messages()), timeout, f"log line {fragment!r}", self)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait(timeout=10)
        self._log.close()


def wait_until(predicate: Callable[[], object], timeout: float, what: str, operator: OperatorProcess | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.3)
    tail = "\n".join(operator.messages()[-30:]) if operator else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{tail}")


@pytest.fixture(scope="session")
def crds_installed(kube_cluster) -> None:
    kube_cluster.kubectl("apply", "-f", str(REPO / "crds"))
    kube_cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")


@pytest.fixture
def start_operator(kube_cluster, crds_installed, tmp_path) -> Iterator[Callable[..., OperatorProcess]]:
    started: list[OperatorProcess] = []

    def start(*extra: str, name: str = "operator") -> OperatorProcess:
        process = OperatorProcess(kube_cluster.kubeconfig, tmp_path / f"{name}-{len(started)}.log", *extra)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
