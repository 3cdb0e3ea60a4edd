"""Free TCP ports on loopback, chosen by the kernel."""

from __future__ import annotations

import socket


def free_port() -> int:
    # The port is released before the server binds it; on a dev machine the window is harmless.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
