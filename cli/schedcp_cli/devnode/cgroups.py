"""The node's own cgroup root (the kubelet's --cgroup-root) in every hierarchy of the host.

Not the default `/kubepods`: that is where the agent's tests place hand-made pods, and a
node's `down` must remove only what the node made. The kubelet wants its root to exist;
on v1 a new cpuset cgroup needs its CPUs and memory nodes before any task may join.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

CGROUP_FS = Path("/sys/fs/cgroup")
_CPUSET_FILES = ("cpuset.cpus", "cpuset.mems")


def hierarchies(root: Path = CGROUP_FS) -> list[Path]:
    """The v2 root alone, or each v1 (and hybrid) hierarchy once: co-mounted controllers
    appear under several names, as symlinks."""
    if (root / "cgroup.controllers").is_file():
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())


def create(name: str) -> None:
    for hierarchy in hierarchies():
        path = hierarchy / name
        path.mkdir(exist_ok=True)
        for cpuset in _CPUSET_FILES:
            if (path / cpuset).exists() and not (path / cpuset).read_text().strip():
                (path / cpuset).write_text((hierarchy / cpuset).read_text())


def processes(name: str) -> set[int]:
    pids: set[int] = set()
    for hierarchy in hierarchies():
        for directory, _, _ in os.walk(hierarchy / name):
            with contextlib.suppress(OSError):
                pids.update(map(int, Path(directory, "cgroup.procs").read_bytes().split()))
    return pids


def kill_all(name: str, timeout_seconds: float = 30.0) -> None:
    """SIGKILL every process under the root until none is left (containers may be forking)."""
    deadline = time.monotonic() + timeout_seconds
    while (pids := processes(name)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    if pids:
        raise RuntimeError(f"processes {sorted(pids)} still in cgroup {name} after {timeout_seconds}s")


def remove(name: str) -> None:
    """rmdir leaf first in every hierarchy; an empty cgroup goes once its last task is reaped."""
    for hierarchy in hierarchies():
        top = hierarchy / name
        if not top.is_dir():
            continue
        for directory, _, _ in sorted(os.walk(top), key=lambda entry: -len(Path(entry[0]).parts)):
            _rmdir(Path(directory))


def _rmdir(path: Path, attempts: int = 50) -> None:
    for _ in range(attempts):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)
    path.rmdir()
