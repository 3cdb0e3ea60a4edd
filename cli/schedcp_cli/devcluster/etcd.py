"""etcd for the dev cluster: Debian trixie's `etcd-server`, unpacked into the cache.

bookworm's etcd (3.4) is too old for current Kubernetes; trixie's is a static Go binary
that runs on the bookworm host as it is.
"""

from __future__ import annotations

from pathlib import Path

from schedcp.debian_packages import DebianSuite
from schedcp_cli.devcluster.paths import ETCD_SUITE


def ensure_etcd() -> Path:
    binary = DebianSuite(ETCD_SUITE).extract("etcd-server") / "usr" / "bin" / "etcd"
    if not binary.is_file():
        raise RuntimeError(f"etcd-server from {ETCD_SUITE} has no {binary}")
    return binary
