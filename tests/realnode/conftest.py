"""A real node for the tests: the project's control plane on the host's address, the images
`schedcp dev images` builds (cached by content), and containerd + kubelet + kube-proxy.

These tests change the host (iptables, a bridge, cgroups) and need root; each node is torn
down by the same code as `schedcp dev node down`, which one test checks leaves nothing.
"""

from __future__ import annotations

import fcntl
import functools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from schedcp_cli.devcluster.cluster import DevCluster
from schedcp_cli.devimages.build import ImageArchive, ensure_image, ensure_pause_image
from schedcp_cli.devimages.spec import IMAGES
from schedcp_cli.devnode import hostnet
from tests.chart.conftest import helm  # noqa: F401 (the fixture, for test_chart)

CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
NODE_NAME = "schedcp-test-node"


# A node's names are the host's (cni0, 10.244.0.0/24, KUBE- chains, the cgroup root): two
# test runs on one machine (CI beside a developer's) take turns instead of tearing down
# each other's node.
HOST_LOCK = Path("/run/lock/schedcp-realnode.lock")


@pytest.fixture(scope="session")
def node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    HOST_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with HOST_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield from _cluster(tmp_path_factory)


def _cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    cluster = DevCluster(tmp_path_factory.mktemp("node-control-plane"), host_address=hostnet.host_address())
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


class Images:
    """The images a test asks for, each built (or found in the cache) on first use, timed."""

    def __init__(self) -> None:
        self._builds = {spec.name: functools.partial(ensure_image, spec, CA_BUNDLE) for spec in IMAGES}
        self._builds["pause"] = ensure_pause_image
        self._built: dict[str, ImageArchive] = {}

    def __getitem__(self, name: str) -> ImageArchive:
        if name not in self._built:
            started = time.monotonic()
            self._built[name] = self._builds[name]()
            image = self._built[name]
            print(f"\nimage {image.reference}: {image.size_bytes / 1e6:.0f} MB, {time.monotonic() - started:.1f}s")
        return self._built[name]


@pytest.fixture(scope="session")
def images() -> Images:
    return Images()
