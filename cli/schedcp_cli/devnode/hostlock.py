"""One dev node per host, and one `up` or `down` at a time.

A node changes what the host has only once: the cni0 bridge, the KUBE-/CNI- iptables
chains, a few sysctls and the chart's hostPath directories. A second node's `up` would
share them and its `down` would take them from the first; two `up`s of one node would
each tear down what the other just made. So `up` and `down` hold an exclusive lock on a
file next to the nodes' state dirs, and `up` refuses while another node is up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class HostBusy(RuntimeError):
    """Another `up` or `down` holds the host, or another node is up on it."""


@contextlib.contextmanager
def held(nodes_dir: Path) -> Iterator[None]:
    nodes_dir.mkdir(parents=True, exist_ok=True)
    with open(nodes_dir / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HostBusy(f"another `schedcp dev node up` or `down` is running on this host (lock {lock.name})") \
                from None
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield

