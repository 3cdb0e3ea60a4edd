"""Operators as real processes against the session's real API server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from schedcp_cli.components import ComponentProcess
from schedcp_cli.devcluster.ports import free_port


class OperatorProcess(ComponentProcess):
    def __init__(self, kubeconfig: Path, log_path: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.liveness_port = free_port()
        liveness = f"http://127.0.0.1:{self.liveness_port}/healthz"
        args = ["--liveness", liveness, "--peering-lifetime", "10", *extra]
        # No key: a test that wants the Claude designer sets it explicitly.
        super().__init__("schedcp_operator", args, kubeconfig, log_path, env={"ANTHROPIC_API_KEY": "", **(env or {})})


@pytest.fixture
def start_operator(kube_cluster, crds_installed, tmp_path) -> Iterator[Callable[..., OperatorProcess]]:
    started: list[OperatorProcess] = []

    def start(*extra: str, name: str = "operator", env: dict[str, str] | None = None) -> OperatorProcess:
        process = OperatorProcess(kube_cluster.kubeconfig, tmp_path / f"{name}-{len(started)}.log", *extra, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
