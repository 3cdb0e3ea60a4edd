"""Where a Kubernetes pod lives in a node's cgroup tree.

The kubelet derives a pod's cgroup from three things: its cgroup driver (cgroupfs names
directories plainly, systemd names each nested slice after its parent), the pod's QoS class,
and the pod UID. The container runtime then adds one child cgroup per container. This module
turns (UID, QoS, container IDs) into directories on cgroup v1, v2 and hybrid hosts, under
any root, because the agent reads the host's tree where it is mounted (e.g. /host/sys/fs/cgroup).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict

DEFAULT_ROOT = Path("/sys/fs/cgroup")

# Every v2 cgroup directory has cgroup.controllers; a v1 cpu hierarchy has cpu.shares.
_V2_MARKER = "cgroup.controllers"
_V1_CPU_MARKER = "cpu.shares"
# Hybrid hosts mount v2 here; distributions name the v1 cpu mount after its co-mounted
# controllers ("cpu" is then usually a symlink to "cpu,cpuacct").
_HYBRID_V2_MOUNT = "unified"
_V1_CPU_MOUNTS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


class QosClass(StrEnum):
    GUARANTEED = "Guaranteed"
    BURSTABLE = "Burstable"
    BEST_EFFORT = "BestEffort"


class CgroupDriver(StrEnum):
    CGROUPFS = "cgroupfs"
    SYSTEMD = "systemd"


# The kubelet's top-level pod cgroup when --cgroup-root is left at its default.
_DEFAULT_KUBEPODS = (PurePosixPath("kubepods.slice"), PurePosixPath("kubepods"))

# Per (runtime in the pod status's container ID, driver): the name of a container's own
# cgroup and of its monitor's. CRI-O runs conmon beside each container in a cgroup of its
# own; its CPU time is pod overhead, not the container's work.
_CONTAINER_DIRS: dict[tuple[str, CgroupDriver], tuple[str, str | None]] = {
    ("containerd", CgroupDriver.SYSTEMD): ("cri-containerd-{}.scope", None),
    ("containerd", CgroupDriver.CGROUPFS): ("{}", None),
    ("cri-o", CgroupDriver.SYSTEMD): ("crio-{}.scope", "crio-conmon-{}.scope"),
    ("cri-o", CgroupDriver.CGROUPFS): ("crio-{}", "crio-conmon-{}"),
}


class PodCgroupNotFound(FileNotFoundError):
    """No cgroup directory for the pod: not on this node, not started yet, or already gone."""


class CgroupHierarchies(BaseModel):
    """The two hierarchies of a host that matter for CPU profiling.

    They differ only on hybrid hosts, where the cpu controller is bound to v1 while v2
    (without controllers) still provides cgroup ids and pressure (PSI) files.
    """

    model_config = ConfigDict(frozen=True)

    cpu: Path
    cpu_version: Literal[1, 2]
    unified: Path | None


class ContainerCgroup(BaseModel):
    model_config = ConfigDict(frozen=True)

    container_id: str
    path: Path
    monitor: Path | None = None


class PodCgroup(BaseModel):
    """A pod's cgroup: `path` is in the cpu controller's hierarchy (processes, throttling),
    `unified_path` in v2's (pressure), and `cgroup_id` is the v2 directory's inode, which is
    the id bpf_get_current_cgroup_id() and scx_bpf_task_cgroup() report for its tasks."""

    model_config = ConfigDict(frozen=True)

    pod_uid: str
    path: Path
    version: Literal[1, 2]
    unified_path: Path | None
    cgroup_id: int | None
    containers: tuple[ContainerCgroup, ...] = ()


def detect_hierarchies(root: Path = DEFAULT_ROOT) -> CgroupHierarchies:
    """Classify the cgroup mount at `root` as v2, hybrid or v1 by the files it holds."""
    unified = next((p for p in (root, root / _HYBRID_V2_MOUNT) if (p / _V2_MARKER).is_file()), None)
    if unified == root:
        return CgroupHierarchies(cpu=root, cpu_version=2, unified=root)
    v1_cpu = next((root / m for m in _V1_CPU_MOUNTS if (root / m / _V1_CPU_MARKER).is_file()), None)
    if v1_cpu is not None:
        return CgroupHierarchies(cpu=v1_cpu, cpu_version=1, unified=unified)
    if unified is not None:
        # Hybrid host that left the cpu controller unbound from v1: v2 is all there is.
        return CgroupHierarchies(cpu=unified, cpu_version=2, unified=unified)
    raise FileNotFoundError(f"no cgroup v1 cpu or v2 hierarchy under {root}")


def driver_of(kubepods: PurePosixPath) -> CgroupDriver:
    return CgroupDriver.SYSTEMD if kubepods.name.endswith(".slice") else CgroupDriver.CGROUPFS


def _child(parent: PurePosixPath, leaf: str, driver: CgroupDriver) -> PurePosixPath:
    """systemd spells a slice's ancestry in its name (a-b.slice lives in a.slice)."""
    if driver is CgroupDriver.CGROUPFS:
        return parent / leaf
    return parent / f"{parent.name.removesuffix('.slice')}-{leaf}.slice"


def pod_relative_path(kubepods: PurePosixPath, pod_uid: str, qos: QosClass) -> PurePosixPath:
    """The pod's cgroup relative to a hierarchy root, as the kubelet names it.

    Guaranteed pods sit directly in kubepods; the others in a per-QoS parent.
    """
    driver = driver_of(kubepods)
    # '-' separates nesting levels in systemd unit names, so the kubelet writes the UID with '_'.
    uid = pod_uid.replace("-", "_") if driver is CgroupDriver.SYSTEMD else pod_uid
    parent = kubepods if qos is QosClass.GUARANTEED else _child(kubepods, qos.lower(), driver)
    return _child(parent, f"pod{uid}", driver)


def _container(pod_dir: Path, container_id: str, driver: CgroupDriver) -> ContainerCgroup | None:
    """The container's cgroup under the pod's, if it exists (it does not before the container starts)."""
    runtime, _, bare_id = container_id.partition("://")
    if (runtime, driver) not in _CONTAINER_DIRS:
        raise ValueError(f"unsupported container runtime in {container_id!r}")
    own, monitor = _CONTAINER_DIRS[runtime, driver]
    path = pod_dir / own.format(bare_id)
    if not path.is_dir():
        return None
    monitor_path = pod_dir / monitor.format(bare_id) if monitor else None
    return ContainerCgroup(
        container_id=container_id,
        path=path,
        monitor=monitor_path if monitor_path and monitor_path.is_dir() else None,
    )


class PodCgroupResolver:
    """Finds pods' cgroups on one host.

    `kubepods` overrides the kubelet's top-level cgroup (relative to the hierarchy root),
    for kubelets run with --cgroup-root, e.g. kind nodes: "kubelet.slice/kubelet-kubepods.slice"
    or "kubelet/kubepods". Its name tells the driver: systemd's end in ".slice".
    """

    def __init__(self, root: Path = DEFAULT_ROOT, kubepods: str | None = None) -> None:
        self.hierarchies = detect_hierarchies(root)
        # Leading '/' as the kubelet flag spells it would make the path escape the root.
        self._kubepods = (PurePosixPath(kubepods.strip("/")),) if kubepods else _DEFAULT_KUBEPODS

    def resolve(
        self, pod_uid: str, qos: QosClass | None = None, container_ids: Iterable[str] = ()
    ) -> PodCgroup:
        """The pod's cgroup; with `qos` unknown (None), every QoS class is tried.

        `container_ids` are as in the pod status ("containerd://<id>", "cri-o://<id>");
        containers without a cgroup yet are left out.
        """
        kubepods, relative = self._find(pod_uid, qos)
        hierarchies = self.hierarchies
        path = hierarchies.cpu / relative
        unified = hierarchies.unified / relative if hierarchies.unified else None
        if unified is not None and not unified.is_dir():
            unified = None  # a v1 host whose runtime does not mirror cgroups into v2
        try:
            cgroup_id = os.stat(unified).st_ino if unified else None
        except FileNotFoundError as gone:
            raise PodCgroupNotFound(f"pod {pod_uid}: {unified} removed while resolving") from gone
        containers = (_container(path, cid, driver_of(kubepods)) for cid in container_ids)
        return PodCgroup(
            pod_uid=pod_uid,
            path=path,
            version=hierarchies.cpu_version,
            unified_path=unified,
            cgroup_id=cgroup_id,
            containers=tuple(c for c in containers if c is not None),
        )

    def _find(self, pod_uid: str, qos: QosClass | None) -> tuple[PurePosixPath, PurePosixPath]:
        candidates = [
            (kubepods, pod_relative_path(kubepods, pod_uid, q))
            for kubepods in self._kubepods
            for q in ((qos,) if qos else tuple(QosClass))
        ]
        for kubepods, relative in candidates:
            if (self.hierarchies.cpu / relative).is_dir():
                return kubepods, relative
        tried = ", ".join(str(relative) for _, relative in candidates)
        raise PodCgroupNotFound(f"pod {pod_uid}: none of {tried} under {self.hierarchies.cpu}")


def pod_pids(pod: PodCgroup) -> list[int]:
    """Every process of the pod's own work: those in the pod's cgroup itself (where processes
    placed by hand live) and in its containers' (and runtime monitors') subtrees, which may
    nest further. Any other child is the runtime's sandbox (containerd puts the pause process
    in a cgroup named after the sandbox id, next to the containers) or a container the pod's
    status does not list yet: neither is the pod's work. Cgroups removed during the walk
    (ENOENT, or ENODEV once open) are skipped: containers come and go."""
    pids = set(_procs(pod.path))
    tops = [top for c in pod.containers for top in (c.path, c.monitor) if top is not None]
    for top in tops:
        for directory, _, _ in os.walk(top):
            pids.update(_procs(Path(directory)))
    return sorted(pids)


def _procs(directory: Path) -> list[int]:
    try:
        return list(map(int, (directory / "cgroup.procs").read_bytes().split()))
    except OSError as error:
        if error.errno not in (errno.ENOENT, errno.ENODEV):
            raise
        return []
