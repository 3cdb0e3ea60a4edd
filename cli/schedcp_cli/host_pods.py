"""Pod cgroups on this host, made the way a cgroupfs-driver kubelet names them, with real
processes in them: a node without a kubelet, for the agent's tests and benchmarks.

Pods go into kubepods/burstable/pod<uid> in every hierarchy the profiler reads (the
one holding the cpu controller and v2's). `close` removes everything, leaf first.
"""

from __future__ import annotations

import errno
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from schedcp_node_agent.pod_cgroups import CgroupHierarchies

BURSTABLE = PurePosixPath("kubepods/burstable")

# How to cap a cgroup's CPU at `cores`, by cgroup version, with the default 100 ms period.
_CPU_LIMIT = {
    1: ("cpu.cfs_quota_us", "{quota}"),
    2: ("cpu.max", "{quota} 100000"),
}


class HostPods:
    def __init__(self, hierarchies: CgroupHierarchies) -> None:
        self.hierarchies = hierarchies
        self._roots = _roots(hierarchies)
        self._created: list[Path] = []
        self._processes: list[subprocess.Popen[bytes]] = []

    def pod(self, uid: str | None = None) -> str:
        """A Burstable pod's cgroup in every hierarchy (a new UID unless given); returns the UID."""
        uid = uid or str(uuid.uuid4())
        for root in self._roots:
            self._make(root, BURSTABLE / f"pod{uid}")
        return uid

    def spawn(self, uid: str, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        self._processes.append(process)
        for root in self._roots:
            (root / BURSTABLE / f"pod{uid}" / "cgroup.procs").write_text(str(process.pid))
        return process

    def limit_cpu(self, uid: str, cores: float) -> None:
        name, value = _CPU_LIMIT[self.hierarchies.cpu_version]
        path = self.hierarchies.cpu / BURSTABLE / f"pod{uid}" / name
        path.write_text(value.format(quota=round(cores * 100_000)))

    def close(self) -> None:
        for process in self._processes:
            process.kill()
            process.wait()
        for directory in reversed(self._created):
            _rmdir(directory)

    def _make(self, root: Path, relative: PurePosixPath) -> None:
        path = root
        for part in relative.parts:
            parent, path = path, path / part
            if not path.exists():
                if parent in self._created:
                    _delegate_cpu(parent)
                path.mkdir()
                self._created.append(path)


def _roots(hierarchies: CgroupHierarchies) -> list[Path]:
    return sorted({hierarchies.cpu, *([hierarchies.unified] if hierarchies.unified else [])})


def _delegate_cpu(parent: Path) -> None:
    """On v2 a child gets the cpu controller only if its parent enables it for its subtree.
    Only done in parents this fixture created: the host's own cgroups are left as they are."""
    subtree = parent / "cgroup.subtree_control"
    if subtree.exists() and "cpu" in (parent / "cgroup.controllers").read_text().split():
        subtree.write_text("+cpu")


def _rmdir(directory: Path) -> None:
    """A cgroup stays busy for a moment after its last task is reaped."""
    for _ in range(50):
        try:
            directory.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as error:
            if error.errno != errno.EBUSY:
                raise
            time.sleep(0.02)
    directory.rmdir()


def writable_reason(hierarchies: CgroupHierarchies) -> str | None:
    """Why pod cgroups cannot be created here, or None if they can."""
    for root in _roots(hierarchies):
        probe = root / f"schedcp-probe-{uuid.uuid4().hex[:8]}"
        try:
            probe.mkdir()
        except OSError as error:
            return f"cannot create cgroups under {root}: {error.strerror}"
        probe.rmdir()
    return None
