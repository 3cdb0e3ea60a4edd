"""The dev cluster's certificates pass strict X.509 checks: Python 3.13's default TLS
context (the images' Python) is strict, so a pod's client refused the API server's chain."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest

from schedcp_cli.devcluster import pki

pytestmark = pytest.mark.unit


def test_a_strict_client_accepts_the_api_servers_chain(tmp_path: Path) -> None:
    authority = pki.Authority(tmp_path)
    serving = authority.issue("apiserver", "kube-apiserver", server=True, addresses=("10.96.0.1",))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(serving.cert, serving.key)
    client_context = ssl.create_default_context(cafile=str(authority.pair.cert))
    client_context.verify_flags |= ssl.VERIFY_X509_STRICT
    server_side, client_side = socket.socketpair()
    served = threading.Thread(target=lambda: server_context.wrap_socket(server_side, server_side=True).close(), daemon=True)
    served.start()

    with client_context.wrap_socket(client_side, server_hostname="10.96.0.1") as tls:
        assert tls.getpeercert()["subject"] == ((("commonName", "kube-apiserver"),),)
    served.join(10)


def test_the_authority_is_loaded_again_from_its_directory(tmp_path: Path) -> None:
    """A node joining later signs its certificates with the cluster's CA, not a new one."""
    first = pki.Authority(tmp_path)
    again = pki.Authority(tmp_path)

    assert again.pair.cert.read_bytes() == first.pair.cert.read_bytes()
    assert again.key.private_numbers() == first.key.private_numbers()
