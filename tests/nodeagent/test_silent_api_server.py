"""An API server that accepts a connection and then says nothing (a half-open stream):
the agent's calls give up after their read timeout instead of waiting forever, so its
loops go on and report the outage. No cluster: a listening socket that never answers."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from kubernetes import client

from schedcp.api.v1alpha1.nodestate import NodeSchedulerStateStatus
from schedcp.transport import API_ERRORS
from schedcp_node_agent.node_state import NodeStateClient

pytestmark = pytest.mark.unit

TIMEOUT = (1.0, 1.0)


@pytest.fixture
def silent_server() -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def api_client(host: str) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = host
    return client.ApiClient(configuration)


def test_a_status_write_to_a_silent_server_fails_within_its_timeout(silent_server) -> None:
    state = NodeStateClient(api_client(silent_server), "n1", timeout=TIMEOUT)
    outcome: list[BaseException] = []

    def write() -> None:
        try:
            state.write_status(NodeSchedulerStateStatus())
        except API_ERRORS as error:
            outcome.append(error)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    writer.join(20)
    assert not writer.is_alive(), "the write still waits on a server that will never answer"
    assert outcome, "the write returned without an answer"


def test_the_reflector_on_a_silent_server_reports_the_failure_and_tries_again(silent_server, caplog) -> None:
    reflector = NodeStateClient(api_client(silent_server), "n1", timeout=TIMEOUT).reflector
    caplog.set_level(logging.WARNING, logger="schedcp.agent.reflector")
    reflector.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and sum("watch failed" in r.message for r in caplog.records) < 2:
        time.sleep(0.1)
    reflector.stop()
    assert sum("watch failed" in r.message for r in caplog.records) >= 2, caplog.text
    assert not reflector.synced.is_set()
