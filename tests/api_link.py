"""A TCP link to the API server that a test can cut and restore: what a client sees of an
API server outage (open connections reset, new ones refused) without stopping the
session's API server, which every other test shares."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

from kubernetes import client, config

from schedcp_cli.devcluster.ports import free_port

CHUNK = 65536


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(CHUNK):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            _close(end)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept() or recv()
    sock.close()


class ApiLink:
    def __init__(self, server: str, kubeconfig: Path, workdir: Path) -> None:
        target = urlsplit(server)
        self.target = (target.hostname or "127.0.0.1", target.port or 443)
        self.port = free_port()
        self.server = f"https://127.0.0.1:{self.port}"
        self.kubeconfig = workdir / "link.kubeconfig"
        self.kubeconfig.write_text(kubeconfig.read_text().replace(server, self.server))
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def api_client(self) -> client.ApiClient:
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def restore(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), name="api-link", daemon=True).start()

    def cut(self) -> None:
        assert self._listener is not None
        _close(self._listener)
        with self._lock:
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                downstream, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open |= {downstream, upstream}
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=_pump, args=(source, sink), name="api-link-pump", daemon=True).start()
